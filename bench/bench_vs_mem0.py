"""Side by side with mem0, in one run, on the same workload; and how our figures grow with scale.

    .venv/bin/python bench/bench_vs_mem0.py --peer PATH/mem0_bench.py --peer-python VENV/bin/python
    .venv/bin/python bench/bench_vs_mem0.py --peer PATH/mem0_bench.py --scale 1000,10000,100000

The peer script (a harness for the `mem0ai` library, `infer=False`, local Qdrant, MiniLM, one torch
thread) is not part of this repository: pass its path. Its docstring says how to install mem0 in a
throw-away virtualenv; pass that virtualenv's python as --peer-python. The texts, users and queries
are the peer script's own (its `make_texts`, `NAMES`, `QUERIES`, the same seed and the same draw
order), so both sides see the same 1,000 adds and 200 user-filtered searches.

Our side runs over HTTP (one keep-alive connection, the standard library's client) against
`scripts/serve.py` on the embedded default (embedded PostgreSQL, the embedded Qdrant engine, local
memory cache), started in a temporary data dir. Per side: single adds one by one (p50/p99), then
the searches (top_k 10, `filters={"user_id": u}`, the default vector mode); ours also batch
ingest (POST /memories/batch, 500 per request) on a second fresh server, so that no text is
in its embedding cache yet. The peer runs after ours, never at the same time.

--scale N1,N2,...: for each size, a fresh server ingests N memories with the batch endpoint (the
bulk path), then runs the 200 searches; prints ingest rate, search p50/p99 and the resident memory
(RSS) of the server process and of its PostgreSQL processes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from benchlib import TimingClient, percentile, serve_embedded

BATCH = 500


def free_port() -> int:
    with socket.socket() as sock:  # a port of its own: other benchmarks may run on this machine
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_peer(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("mem0_peer", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines the workload; mem0 itself is imported only in its main()
    return module


def workload(peer: ModuleType, n: int, searches: int, users: int, seed: int) -> tuple[list[str], list[tuple[str, str]]]:
    """The peer's texts and (query, user) pairs, drawn in the peer's order from the peer's seed."""
    rng = random.Random(seed)
    texts = peer.make_texts(n, rng)
    user_ids = [f"user-{i}" for i in range(users)]
    queries = []
    for j in range(searches):
        query = rng.choice(peer.QUERIES).format(n=rng.choice(peer.NAMES))
        queries.append((query, user_ids[j % len(user_ids)]))
    return texts, queries


def item(text: str, index: int, users: int, namespace: str) -> dict[str, Any]:
    return {
        "payload": {"content": text},
        "metadata": {"user_id": f"user-{index % users}", "seq": index},
        "namespace": namespace,
    }


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def postgres_rss_kb(data_dir: Path) -> int:
    """The embedded PostgreSQL's processes: the postmaster (its -D names our data dir) and its children."""
    total, postmasters = 0, set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "postgres" in cmdline and str(data_dir) in cmdline:
                postmasters.add(int(proc.name))
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if int(proc.name) in postmasters or ppid in postmasters:
                total += rss_kb(int(proc.name))
    return total


def summary(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(samples, 0.5), 2), "p99_ms": round(percentile(samples, 0.99), 2)}


def searches_run(client: TimingClient, queries: list[tuple[str, str]], namespace: str) -> tuple[list[float], float]:
    samples, hits = [], 0
    for query, user in queries:
        body = {"query": query, "top_k": 10, "filters": {"user_id": user}, "namespace": namespace}
        elapsed, answer = client.post("/memories/search", body)
        samples.append(elapsed)
        hits += len(answer["memories"])
    return samples, hits / max(1, len(queries))


def batch_ingest(client: TimingClient, texts: list[str], users: int, namespace: str) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), BATCH):
        chunk = [item(text, start + i, users, namespace) for i, text in enumerate(texts[start : start + BATCH])]
        client.post("/memories/batch", {"memories": chunk})
    return len(texts) / (time.perf_counter() - started)


class Server:
    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="bench-vs-mem0-"))
        self.token = uuid.uuid4().hex
        port = free_port()
        self.process = serve_embedded(port=port, data_dir=self.directory, token=self.token)
        self.client = TimingClient(f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {self.token}"})

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(60)


def ours(texts: list[str], queries: list[tuple[str, str]], users: int) -> dict[str, Any]:
    server = Server()
    try:
        client = server.client
        client.request("POST", "/memories", {"payload": {"content": "warm up"}, "namespace": "warmup"})
        adds = []
        for index, text in enumerate(texts):
            elapsed, status, data = client.request("POST", "/memories", item(text, index, users, "single"))
            if status not in (200, 201):
                raise RuntimeError(f"POST /memories: {status} {data[:300]!r}")
            adds.append(elapsed)
        search, hits = searches_run(client, queries, "single")
    finally:
        server.stop()
    # A fresh server for the batch: this one's embedding cache holds every text already.
    server = Server()
    try:
        batch_rate = batch_ingest(server.client, texts, users, "batched")
        return {
            "adds_per_s": round(len(texts) / (sum(adds) / 1000), 1),
            "add": summary(adds),
            "batch_adds_per_s": round(batch_rate, 1),
            "search": summary(search),
            "hits_per_search": round(hits, 2),
        }
    finally:
        server.stop()


def peer_run(peer_python: str, peer: Path, n: int, searches: int, users: int, seed: int) -> dict[str, Any]:
    command = [peer_python, str(peer), str(n), "-m", str(searches), "--users", str(users), "--seed", str(seed)]
    command += ["--threads", "1", "--json"]
    print("peer:", " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=3600)
    for line in result.stdout.splitlines():
        print("  " + line if not line.startswith("{") else "  (json)")
    return json.loads(result.stdout.strip().splitlines()[-1])


def side_by_side(args: argparse.Namespace, peer: ModuleType) -> None:
    texts, queries = workload(peer, args.n, args.searches, args.users, args.seed)
    us = ours(texts, queries, args.users)
    print("us:", json.dumps(us), flush=True)
    if not args.peer_python:
        return
    them = peer_run(args.peer_python, args.peer, args.n, args.searches, args.users, args.seed)
    rows = [
        ("single add p50 (ms)", them["add_p50_ms"], us["add"]["p50_ms"], them["add_p50_ms"] / us["add"]["p50_ms"]),
        ("single add p99 (ms)", them["add_p99_ms"], us["add"]["p99_ms"], them["add_p99_ms"] / us["add"]["p99_ms"]),
        ("adds/s, one by one", them["adds_per_s"], us["adds_per_s"], us["adds_per_s"] / them["adds_per_s"]),
        (
            "adds/s, batch (ours: /memories/batch)",
            them["adds_per_s"],
            us["batch_adds_per_s"],
            us["batch_adds_per_s"] / them["adds_per_s"],
        ),
        (
            "search p50 (ms)",
            them["search_p50_ms"],
            us["search"]["p50_ms"],
            them["search_p50_ms"] / us["search"]["p50_ms"],
        ),
        (
            "search p99 (ms)",
            them["search_p99_ms"],
            us["search"]["p99_ms"],
            them["search_p99_ms"] / us["search"]["p99_ms"],
        ),
    ]
    print(
        f"\n{args.n} adds, {args.searches} user-filtered searches (top_k 10); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"| path | mem0 {them['mem0_version']} | us | ratio (x faster) |\n|---|---|---|---|")
    for name, theirs, mine, ratio in rows:
        print(f"| {name} | {theirs:g} | {mine:g} | {ratio:.1f}x |")
    print(f"hits per search: mem0 {them['avg_hits_per_search']}, us {us['hits_per_search']}")


def scale(args: argparse.Namespace, peer: ModuleType) -> None:
    print(
        "| memories | ingest (batch) | search p50 | search p99 | server RSS | PostgreSQL RSS |\n|---|---|---|---|---|---|"
    )
    for n in [int(size) for size in args.scale.split(",")]:
        texts, queries = workload(peer, n, args.searches, args.users, args.seed)
        server = Server()
        try:
            rate = batch_ingest(server.client, texts, args.users, "default")
            samples, _ = searches_run(server.client, queries, "default")
            figures = summary(samples)
            server_mb = rss_kb(server.process.pid) / 1024
            pg_mb = postgres_rss_kb(server.directory) / 1024
        finally:
            server.stop()
        print(
            f"| {n:,} | {rate:.0f}/s | {figures['p50_ms']} ms | {figures['p99_ms']} ms | {server_mb:.0f} MB | {pg_mb:.0f} MB |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", type=Path, required=True, help="the peer's mem0_bench.py (its workload, and its run)")
    parser.add_argument("--peer-python", default="", help="python of the virtualenv holding mem0 (unset: ours only)")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", default="", help="comma-separated sizes: the scale table instead")
    args = parser.parse_args()
    print("command:", " ".join([sys.executable, *sys.argv]), flush=True)
    peer = load_peer(args.peer)
    if args.scale:
        scale(args, peer)
    else:
        side_by_side(args, peer)


if __name__ == "__main__":
    main()
