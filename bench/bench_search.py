"""Search speed over HTTP at 100,000 memories on the embedded default, real embedder.

    .venv/bin/python bench/bench_search.py [--count 100000] [--url http://127.0.0.1:9595 --token T]

Without --url it starts `scripts/serve.py` (embedded PostgreSQL + embedded Qdrant engine,
one process) in a temporary data dir on port 9599. Texts are real sentences from the SciFact
abstracts (BEIR SciFact, see bench/README.md), one sentence per memory; past the ~48k distinct
sentences, two half-sentences are joined so every text is distinct. Each memory gets
metadata {"user_id": "u<i % 100>"}, so the filter {"user_id": "u7"} keeps 1%.

The embedded server builds its int8 index in the background (a child process on a copy, past
SOMA_INDEX_THRESHOLD points written since the last build). The searches run twice: right
after the ingest (or the start, with --reuse), whatever the builds have reached by then, and
again once no build runs and fewer than the threshold points are left unindexed (read from
/metrics; the wait and the builds' count and time are printed).

`--build-index` then stops the server, builds the embedded engine's index offline
(`manage.py vectors_optimize`: int8 + HNSW per tenant and namespace, which must never run in a serving
process), restarts the server on the same data and measures the searches again.
`--reuse DIR` skips the ingest and serves a data dir an earlier run left (it prints it).

Prints: batch ingest rate (POST /memories/batch, 500 per request) and the text length; then
for vector / keyword / hybrid, without and with that filter: p50/p99 of fresh queries (claims
and sentences never stored, so the query embedding is computed) and of repeated queries
(the same text again: the embedding comes from the cache); then, per mode, one query sent
--steady times in a row (repeats with no fresh query in between); server RSS (the serving process
and its embedded PostgreSQL processes). Searches are timed on one keep-alive connection of
http.client (benchlib.TimingClient), from sending the request to the last byte of the answer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import EXTERNAL_SERVICES, TimingClient, benchdata_dir, metric_values, percentile, serve_embedded  # noqa: E402

BATCH = 500
MODES = ("vector", "keyword", "hybrid")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def corpus_texts(data: Path, count: int, held_out: int) -> tuple[list[str], list[str]]:
    """`count` distinct memory texts and `held_out` query texts that are never stored."""
    sentences: list[str] = []
    seen: set[str] = set()
    for line in (data / "corpus.jsonl").open():
        doc = json.loads(line)
        for sentence in SENTENCE.split(doc["text"]):
            sentence = sentence.strip()
            if 30 <= len(sentence) <= 400 and sentence not in seen:
                seen.add(sentence)
                sentences.append(sentence)
    rng = random.Random(7)
    rng.shuffle(sentences)
    queries = [json.loads(line)["text"] for line in (data / "queries.jsonl").open()]
    extra = max(0, held_out - len(queries))
    queries += sentences[:extra]
    pool = sentences[extra:]  # a query text is never stored (nor its embedding cached by the ingest)
    texts = pool[:count]
    while len(texts) < count:
        a, b = rng.choice(pool), rng.choice(pool)
        texts.append(f"{a[: len(a) // 2]} {b[len(b) // 2 :]}")
    return texts, queries[:held_out]


def _rss_mb(pid: int | str) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def process_tree_rss_mb(pid: int) -> float:
    return _rss_mb(pid)


def pg_rss_mb(data_dir: Path) -> float:
    """The embedded PostgreSQL under data_dir: postmaster and its backends (shared buffers count once per process)."""
    marker = str(data_dir / "postgres").encode()
    roots = [
        int(proc.name)
        for proc in Path("/proc").glob("[0-9]*")
        if marker in _read(proc / "cmdline") and _read(proc / "comm").startswith(b"postgres")
    ]
    seen, frontier = set(roots), list(roots)
    while frontier:
        for task in Path(f"/proc/{frontier.pop()}/task").glob("*"):
            kids = [int(k) for k in _read(task / "children").split()]
            frontier += [k for k in kids if k not in seen]
            seen.update(kids)
    return sum(_rss_mb(pid) for pid in seen)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def build_index(data_dir: Path) -> None:
    """`manage.py vectors_optimize` on the bench's data dir, with the server stopped."""
    env = {key: value for key, value in os.environ.items() if key not in EXTERNAL_SERVICES}
    env["SOMA_DATA_DIR"] = str(data_dir)
    subprocess.run([sys.executable, "manage.py", "vectors_optimize"], cwd=ROOT, env=env, check=True)


def index_settle(url: str, threshold: int) -> None:
    """Until no background index build runs and fewer than `threshold` points wait for one."""
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=60) as client:
        while True:
            values = metric_values(client.get("/metrics").text)
            building = values.get("soma_vector_index_building", 0)
            unindexed = values.get("soma_vector_points_unindexed", threshold)
            if not building and unindexed < threshold:
                break
            time.sleep(1)
    print(
        f"background index: settled after waiting {time.perf_counter() - started:.1f} s; "
        f"{values.get('soma_vector_index_builds_total', 0):.0f} builds so far, "
        f"{values.get('soma_vector_index_build_seconds_sum', 0):.1f} s in all; "
        f"{values.get('soma_vector_points', 0):.0f} points, {unindexed:.0f} written since the last build"
    )


def ingest(client: httpx.Client, texts: list[str]) -> float:
    started, last = time.perf_counter(), time.perf_counter()
    for i in range(0, len(texts), BATCH):
        items = [
            {"payload": {"content": text}, "metadata": {"user_id": f"u{(i + j) % 100}"}}
            for j, text in enumerate(texts[i : i + BATCH])
        ]
        response = client.post("/memories/batch", json={"memories": items})
        response.raise_for_status()
        if time.perf_counter() - last > 30:
            done = i + len(items)
            print(f"  ... {done} memories, {done / (time.perf_counter() - started):.0f}/s", flush=True)
            last = time.perf_counter()
    return len(texts) / (time.perf_counter() - started)


def timed(client: TimingClient, body: dict) -> tuple[float, dict]:
    return client.post("/memories/search", body)


def measure(client: TimingClient, queries: list[str], mode: str, filters: dict | None, repeats: int) -> None:
    fresh, repeated, degraded, empty = [], [], 0, 0
    for text in queries:
        body = {"query": text, "top_k": 10, "mode": mode} | ({"filters": filters} if filters else {})
        elapsed, answer = timed(client, body)
        fresh.append(elapsed)
        degraded += bool(answer.get("degraded"))
        empty += not answer["memories"]
        for _ in range(repeats):
            repeated.append(timed(client, body)[0])
    label = f"{mode} {'filter user_id=u7 (1%)' if filters else 'no filter'}"
    print(
        f"{label:<32} fresh p50 {percentile(fresh, 0.5):6.2f} p99 {percentile(fresh, 0.99):6.2f} ms | "
        f"repeated p50 {percentile(repeated, 0.5):6.2f} p99 {percentile(repeated, 0.99):6.2f} ms"
        + (f" | DEGRADED {degraded}" if degraded else "")
        + (f" | empty answers {empty}" if empty else "")
    )


def steady(client: TimingClient, query: str, mode: str, count: int) -> None:
    """One query sent `count` times in a row: repeats with nothing else in between (above,
    each repeat follows a fresh query, which has just run the model and scanned the vectors)."""
    body = {"query": query, "top_k": 10, "mode": mode}
    samples = [timed(client, body)[0] for _ in range(count + 20)][20:]
    label = f"{mode} same query x{count}"
    print(f"{label:<32} in a row  p50 {percentile(samples, 0.5):6.2f} p99 {percentile(samples, 0.99):6.2f} ms")


def searches(
    url: str, headers: dict, queries: list[str], args: argparse.Namespace, pid: int | None, data_dir: Path | None
) -> None:
    client = TimingClient(url, headers)
    try:
        client.post("/memories/search", {"query": "warm up", "top_k": 10})
        chunks = [queries[i * args.queries : (i + 1) * args.queries] for i in range(6)]
        for n, (mode, filters) in enumerate((m, f) for m in MODES for f in (None, {"user_id": "u7"})):
            measure(client, chunks[n], mode, filters, args.repeats)
        for mode in MODES:
            steady(client, chunks[0][0], mode, args.steady)
    finally:
        client.close()
    if pid is not None:
        print(
            f"server RSS after searches: {process_tree_rss_mb(pid):.0f} MB (+ embedded PostgreSQL {pg_rss_mb(data_dir):.0f} MB)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--port", type=int, default=9599)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200, help="fresh queries per mode and filter")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steady", type=int, default=300, help="then one query this many times in a row, per mode")
    parser.add_argument("--data", default=str(benchdata_dir("scifact")))
    parser.add_argument("--build-index", action="store_true")
    parser.add_argument("--reuse", help="a data dir left by an earlier run: skip the ingest")
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    # Every (mode, filter) pair gets queries of its own: a query seen before would hit the cache.
    # Two rounds of searches (right after the ingest, then once the index settled), each its own queries.
    texts, queries = corpus_texts(Path(args.data), args.count, args.queries * 12)
    lengths = [len(t) for t in texts]
    print(
        f"{len(texts)} memory texts: {statistics.fmean(lengths):.0f} chars mean, {statistics.median(lengths):.0f} median"
    )

    if args.url:
        headers = {"Authorization": f"Bearer {args.token or os.environ.get('SOMA_API_TOKEN', '')}"}
        headers["X-Soma-Tenant"] = "bench-" + uuid.uuid4().hex[:8]
        with httpx.Client(base_url=args.url.rstrip("/"), headers=headers, timeout=600) as client:
            print(f"batch ingest: {ingest(client, texts):.1f} memories/s (batches of {BATCH}, real embedder)")
        searches(args.url.rstrip("/"), headers, queries, args, None, None)
        return

    data_dir = Path(args.reuse) if args.reuse else Path(tempfile.mkdtemp(prefix="soma-bench-"))
    token, url = "bench-" + uuid.uuid4().hex, f"http://127.0.0.1:{args.port}"
    tenant_file = data_dir / "bench_tenant"
    tenant = tenant_file.read_text() if args.reuse else "bench-" + uuid.uuid4().hex[:8]
    headers = {"Authorization": f"Bearer {token}", "X-Soma-Tenant": tenant}
    process = serve_embedded(port=args.port, data_dir=data_dir, token=token)
    print(f"started scripts/serve.py on the embedded default, data in {data_dir}")
    try:
        if not args.reuse:
            with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
                rate = ingest(client, texts)
            tenant_file.write_text(tenant)
            print(f"batch ingest: {rate:.1f} memories/s (batches of {BATCH}, real embedder)")
            print(
                f"server RSS after ingest: {process_tree_rss_mb(process.pid):.0f} MB (+ embedded PostgreSQL {pg_rss_mb(data_dir):.0f} MB)"
            )
        print(
            f"-- searches right after the {'start' if args.reuse else 'ingest'} (background index builds as far as they got) --"
        )
        searches(url, headers, queries[: args.queries * 6], args, process.pid, data_dir)
        index_settle(url, int(os.environ.get("SOMA_INDEX_THRESHOLD", "20000")))
        print("-- searches once the background index build has settled --")
        searches(url, headers, queries[args.queries * 6 :], args, process.pid, data_dir)
        if args.build_index:
            process.terminate()
            process.wait(60)
            build_index(data_dir)
            process = serve_embedded(port=args.port, data_dir=data_dir, token=token)
            print("-- searches after the offline index build (a fresh server process: cold caches) --")
            searches(url, headers, queries, args, process.pid, data_dir)
    finally:
        process.terminate()
        process.wait(60)


if __name__ == "__main__":
    main()
