"""Mixed load against a real server: 70% search, 20% create, 10% graph, for a fixed time.

    .venv/bin/python bench/load_test.py --server single             # one process (waitress threads), embedded Qdrant engine
    .venv/bin/python bench/load_test.py --server gunicorn --workers 2   # gunicorn, QDRANT_URL (see below)
    .venv/bin/python bench/load_test.py --url http://127.0.0.1:9595 --token T   # an already running server

Without --url the script starts `scripts/serve.py` on a database of its own on the PostgreSQL at
127.0.0.1:5432 (dropped afterwards) with Redis at 127.0.0.1:6379/4 (emptied first: the clients'
texts are seeded, so an earlier run's cached embeddings would spare this one the model). Several workers need a
Qdrant server (the embedded engine belongs to one process): --qdrant-url names one; without it
QDRANT_URL points at a closed port, so the gunicorn run measures the degraded path (search
answered by PostgreSQL full-text, writes left pending). Loopback only; bounded by --duration and
--max-requests. `--index-threshold N` sets SOMA_INDEX_THRESHOLD, so that the single process
builds its vector index in the background (and swaps it in) during the run; the builds are
counted from /metrics at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import metric_values  # noqa: E402

WORDS = [
    "memory", "agent", "coffee", "meeting", "paris", "budget", "deadline", "robot", "garden", "music", "travel",
    "invoice", "python", "database", "weather", "birthday", "project", "launch", "customer", "support", "contract",
]  # fmt: skip
SEED = 2000


def sentence(rng: random.Random, n: int = 8) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def seed(client: httpx.AsyncClient) -> None:
    rng = random.Random(1)
    for start in range(0, SEED, 500):
        items = [{"payload": {"content": sentence(rng)}, "coord": f"{i},0"} for i in range(start, start + 500)]
        response = await client.post("/memories/batch", json={"memories": items})
        response.raise_for_status()
    for i in range(0, 400):
        response = await client.post("/graph/link", json={"from_coord": f"{i},0", "to_coord": f"{i + 1},0"})
        assert response.status_code in (200, 201), response.text


async def worker(
    client: httpx.AsyncClient,
    number: int,
    deadline: float,
    budget: list[int],
    latencies: dict[str, list[float]],
    statuses: dict[str, Counter[str]],
) -> None:
    rng = random.Random(number)
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        roll = rng.random()
        if roll < 0.7:
            kind = "search"
            request = client.post("/memories/search", json={"query": sentence(rng, 4), "top_k": 5})
        elif roll < 0.9:
            kind = "create"
            body = {"payload": {"content": sentence(rng)}, "coord": f"{rng.randrange(10**9)},{number}"}
            request = client.post("/memories", json=body)
        else:
            kind = "graph"
            a = rng.randrange(400)
            if rng.random() < 0.5:
                request = client.get("/graph/neighbors", params={"coord": f"{a},0", "k_hop": 2, "limit": 10})
            else:
                request = client.post(
                    "/graph/link", json={"from_coord": f"{a},0", "to_coord": f"{rng.randrange(SEED)},0"}
                )
        started = time.perf_counter()
        try:
            response = await request
            outcome = str(response.status_code)
            ok = response.status_code < 400 or (kind == "graph" and response.status_code == 422)  # a random self-link
        except httpx.HTTPError as exc:
            outcome, ok = type(exc).__name__, False
        latencies[kind].append((time.perf_counter() - started) * 1000)
        statuses[kind][outcome if ok else f"ERROR {outcome}"] += 1


async def run(url: str, token: str, *, duration: float, concurrency: int, max_requests: int) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}", "X-Soma-Tenant": "load"}, timeout=30, limits=limits
    ) as client:
        await seed(client)
        latencies: dict[str, list[float]] = defaultdict(list)
        statuses: dict[str, Counter[str]] = defaultdict(Counter)
        budget = [max_requests]
        started = time.monotonic()
        deadline = started + duration
        await asyncio.gather(*(worker(client, n, deadline, budget, latencies, statuses) for n in range(concurrency)))
        elapsed = time.monotonic() - started
        degraded = (await client.post("/memories/search", json={"query": "coffee"})).json().get("degraded")
        metrics = metric_values((await client.get("/metrics")).text)
        builds = metrics.get("soma_vector_index_builds_total")
        flushes, flush_seconds = (
            metrics.get("soma_vector_flush_seconds_count"),
            metrics.get("soma_vector_flush_seconds_sum"),
        )
    total = sum(len(v) for v in latencies.values())
    errors = sum(n for counter in statuses.values() for key, n in counter.items() if key.startswith("ERROR"))
    print(
        f"{total} requests in {elapsed:.1f} s = {total / elapsed:.1f} req/s, concurrency {concurrency}, errors {errors}"
    )
    print(f"search degraded (PostgreSQL fallback): {degraded}")
    print(f"background vector index builds during the run: {'n/a' if builds is None else f'{builds:.0f}'}")
    if flushes:
        print(
            f"vector store flushes since start: {flushes:.0f}, {flush_seconds:.2f} s in all"
            f" ({flush_seconds / flushes * 1000:.1f} ms each), every request thread waiting meanwhile"
        )
    print(f"{'kind':<8}{'count':>8}{'share':>8}{'p50 ms':>10}{'p99 ms':>10}  statuses")
    for kind in ("search", "create", "graph"):
        values = latencies.get(kind, [])
        share = len(values) / total if total else 0
        print(
            f"{kind:<8}{len(values):>8}{share:>8.0%}{percentile(values, 0.5):>10.1f}{percentile(values, 0.99):>10.1f}"
            f"  {dict(statuses[kind])}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--token", default="")
    parser.add_argument("--server", choices=("single", "gunicorn"), default="single")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--qdrant-url", default="")
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--index-threshold", type=int, help="SOMA_INDEX_THRESHOLD for the started server")
    parser.add_argument("--flush-interval", type=float, help="SOMA_VECTOR_FLUSH_INTERVAL for the started server")
    parser.add_argument("--threads", type=int, help="SOMA_THREADS for the started server")
    args = parser.parse_args()
    print("$", " ".join(["bench/load_test.py", *sys.argv[1:]]))
    if args.url:
        asyncio.run(
            run(
                args.url,
                args.token,
                duration=args.duration,
                concurrency=args.concurrency,
                max_requests=args.max_requests,
            )
        )
        return

    from reliability.processes import MASTER_TOKEN, LiveServer, free_port, shared_database

    database = "rely_bench_load"
    env = {"SOMA_LOG_LEVEL": "WARNING"}
    if args.index_threshold is not None:
        env["SOMA_INDEX_THRESHOLD"] = str(args.index_threshold)
    if args.flush_interval is not None:
        env["SOMA_VECTOR_FLUSH_INTERVAL"] = str(args.flush_interval)
    if args.threads is not None:
        env["SOMA_THREADS"] = str(args.threads)
    if args.server == "gunicorn":
        env.update(
            SOMA_VECTOR_STORE="qdrant",
            QDRANT_URL=args.qdrant_url or f"http://127.0.0.1:{free_port()}",
            SOMA_WORKERS=str(args.workers),
        )
    redis_url = "redis://127.0.0.1:6379/4"
    # The run's own cache database, emptied: the clients' texts repeat from run to run (seeded), and
    # embeddings cached by an earlier run would spare this one the model.
    redis.Redis.from_url(redis_url).flushdb()
    server = LiveServer(database_url=shared_database(database), redis_url=redis_url, env=env)
    try:
        server.start()
        print(server.log_text().splitlines()[0])
        asyncio.run(
            run(
                server.url,
                MASTER_TOKEN,
                duration=args.duration,
                concurrency=args.concurrency,
                max_requests=args.max_requests,
            )
        )
        log = server.log_text()
        print("server 5xx/tracebacks in log:", log.count("Traceback"))
        for line in log.splitlines():
            if "unavailable" in line or "error" in line.lower():
                print("  server log:", line[:300])
    finally:
        server.cleanup()
        shared_database(database, drop_only=True)


if __name__ == "__main__":
    main()
