"""Search with recency + explain on vs off, and forget over a large store, on the embedded default.

    .venv/bin/python bench/bench_aging.py [--count 100000] [--distinct 10000] [--forget 20000]

Starts `scripts/serve.py` (embedded PostgreSQL + embedded Qdrant engine, one process, real
MiniLM embedder) in a temporary data dir on port 9598 and stores `--count` memories through
POST /memories/batch. The texts are generated sentences; only `--distinct` of them are different
(each is stored count/distinct times with other metadata), so the ingest embeds `--distinct`
texts and takes the rest from the embedding cache: the engine still holds `--count` points and
scans all of them, which is what a search pays for.

Search: 200 query texts, each sent once first (its embedding is then cached, as for a repeated
query), then `--rounds` rounds in which every query is sent twice in a row, alternating which
goes first: off (relevance only, the default; its answer is reused by the rendered-search
cache while the rows are unchanged) and on (`recency {"weight": 0.3}`, `explain: true`: a pool
of 50 candidates, one narrow PostgreSQL query for them, one for the 5 chosen, rendered every
time). Before that it waits until the embedded engine's background index builds are done.
Prints p50/p90 of each and the difference of the p50s.

Forget: a dry run of `keep_top_n = count - forget` (so `--forget` memories go), then the real run
at the same reference time; meanwhile another thread sends searches and GET /healthz and counts
their latencies and failures, to show the API keeps serving.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_search import index_settle  # noqa: E402
from benchlib import TimingClient, percentile, serve_embedded  # noqa: E402

PORT = 9598
TOKEN = "bench-aging-token"
BATCH = 500
TOP_K = 5
SUBJECTS = [
    "Alice",
    "Bob",
    "Carol",
    "Dan",
    "Erin",
    "Frank",
    "Grace",
    "Heidi",
    "Ivan",
    "Judy",
    "Mallory",
    "Niaj",
    "Olivia",
    "Peggy",
    "Rupert",
    "Sybil",
    "Trent",
    "Victor",
]
VERBS = [
    "prefers",
    "dislikes",
    "bought",
    "visited",
    "recommended",
    "forgot",
    "mentioned",
    "reviewed",
    "ordered",
    "cancelled",
    "booked",
    "enjoyed",
]
OBJECTS = [
    "green tea",
    "black coffee",
    "the Lisbon trip",
    "a standing desk",
    "the quarterly report",
    "a sushi restaurant",
    "the jazz concert",
    "a mechanical keyboard",
    "the hiking trail",
    "a vegan cookbook",
    "the train to Paris",
    "an electric bike",
    "the dentist appointment",
    "a noise-cancelling headset",
    "the museum tour",
    "a yoga class",
]
WHEN = [
    "on Monday",
    "last week",
    "in March",
    "yesterday",
    "every morning",
    "before the meeting",
    "after lunch",
    "at the weekend",
]


def sentences(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    made: set[str] = set()
    while len(made) < count:
        made.add(
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(WHEN)}"
            f" (note {rng.randrange(1_000_000)})"
        )
    return sorted(made)


def ingest(client: TimingClient, texts: list[str], count: int) -> float:
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        items = [
            {
                "payload": {"content": texts[i % len(texts)]},
                "metadata": {"user_id": f"u{i % 100}"},
                "importance": (i % 10) / 10,
            }
            for i in range(start, min(count, start + BATCH))
        ]
        client.post("/memories/batch", {"memories": items})
        done = min(count, start + BATCH)
        if done % 10_000 == 0 or done == count:
            print(f"  stored {done}/{count}", flush=True)
    return count / (time.perf_counter() - started)


def search_compare(client: TimingClient, queries: list[str], rounds: int) -> None:
    ranking = {"recency": {"weight": 0.3}, "explain": True}
    for query in queries:  # embeddings into the cache
        client.post("/memories/search", {"query": query, "top_k": TOP_K})
    off: list[float] = []
    on: list[float] = []
    for round_ in range(rounds):
        for n, query in enumerate(queries):
            plain = {"query": query, "top_k": TOP_K}
            pair = [(off, plain), (on, {**plain, **ranking})]
            if (n + round_) % 2:
                pair.reverse()
            for samples, body in pair:
                elapsed, answer = client.post("/memories/search", body)
                samples.append(elapsed)
                assert len(answer["memories"]) == TOP_K
    hit = answer["memories"][0]
    assert ("score_details" in hit) == (body is not plain)
    p50_off, p50_on = statistics.median(off), statistics.median(on)
    print(
        f"search off (relevance only): p50 {p50_off:.2f} ms  p90 {percentile(off, 0.9):.2f} ms  ({len(off)} searches)"
    )
    print(
        f"search on (recency 0.3 + explain): p50 {p50_on:.2f} ms  p90 {percentile(on, 0.9):.2f} ms  ({len(on)} searches)"
    )
    print(f"difference of the p50s: {p50_on - p50_off:+.2f} ms")


def forget_while_serving(url: str, count: int, forget: int, query: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"keep_top_n": count - forget, "reference_time": datetime.now(UTC).isoformat()}
    client = TimingClient(url, headers)
    elapsed, dry = client.post("/memories/forget", body)
    print(f"forget dry run (keep_top_n={count - forget}): {dry['count']} memories in {elapsed / 1000:.2f} s")
    stop = threading.Event()
    latencies: list[float] = []
    failures: list[int] = []

    def serve_meanwhile() -> None:
        other = TimingClient(url, headers)
        while not stop.is_set():
            for method, path, payload in (
                ("POST", "/memories/search", {"query": query, "top_k": TOP_K}),
                ("GET", "/healthz", None),
            ):
                took, status, _ = other.request(method, path, payload)
                latencies.append(took)
                if status != 200:
                    failures.append(status)
            time.sleep(0.05)
        other.close()

    side = threading.Thread(target=serve_meanwhile)
    side.start()
    try:
        elapsed, real = client.post("/memories/forget", {**body, "dry_run": False})
    finally:
        stop.set()
        side.join(30)
    same = real["ids"] == dry["ids"] and real["count"] == dry["count"]
    print(
        f"forget real run: {real['count']} memories in {elapsed / 1000:.2f} s "
        f"({real['count'] / (elapsed / 1000):.0f}/s); same ids as the dry run: {same}"
    )
    if latencies:
        print(
            f"meanwhile: {len(latencies)} requests (search + /healthz), {len(failures)} failed, "
            f"p50 {statistics.median(latencies):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
            f"max {max(latencies):.1f} ms"
        )
    _, after = client.post("/memories/search", {"query": query, "top_k": 1})
    client.close()
    del after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--distinct", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--forget", type=int, default=20_000)
    args = parser.parse_args()
    pool = os.environ.get("SOMA_SEARCH_RERANK_POOL")
    prefix = f"SOMA_SEARCH_RERANK_POOL={pool} " if pool else ""
    print(f"command: {prefix}.venv/bin/python bench/bench_aging.py " + " ".join(sys.argv[1:]), flush=True)
    texts = sentences(args.distinct, seed=1)
    queries = [f"who {verb} {obj}" for verb, obj in zip(VERBS * 20, OBJECTS * 20, strict=False)][:200]
    with tempfile.TemporaryDirectory(prefix="soma-bench-aging-") as tmp:
        data_dir = Path(tmp)
        server = serve_embedded(port=PORT, data_dir=data_dir, token=TOKEN)
        url = f"http://127.0.0.1:{PORT}"
        try:
            client = TimingClient(url, {"Authorization": f"Bearer {TOKEN}"})
            rate = ingest(client, texts, args.count)
            print(f"ingest: {args.count} memories ({args.distinct} distinct texts) at {rate:.0f}/s")
            # The background index builds (past SOMA_INDEX_THRESHOLD new points) would share the CPU.
            index_settle(url, int(os.environ.get("SOMA_INDEX_THRESHOLD", "20000")))
            search_compare(client, queries, args.rounds)
            client.close()
            forget_while_serving(url, args.count, args.forget, queries[0])
        finally:
            server.terminate()
            server.wait(60)


if __name__ == "__main__":
    main()
