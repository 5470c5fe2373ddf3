"""HTTP benchmark of the memory endpoints against a running server (issue 2).

    .venv/bin/python bench/bench_api.py [--url http://127.0.0.1:9595] [--token T] [--count 10000]

Without --url it starts `scripts/serve.py` itself on the embedded default in a temporary data
dir (port 9597), runs, and stops it. Measures: POST /memories p50/p99 (one client, sequential),
POST /memories/batch memories/s (batches of 500), GET /memories/{coord} p50/p99.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid

import httpx
from benchlib import BenchServer, add_server_arguments, percentile, print_command


def report(name: str, samples_s: list[float]) -> None:
    ms = [s * 1000 for s in samples_s]
    print(
        f"{name:<34} n={len(ms):>6}  p50={percentile(ms, 0.5):7.2f} ms  p99={percentile(ms, 0.99):7.2f} ms  "
        f"mean={statistics.fmean(ms):7.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser, port=9597)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    print_command()
    with BenchServer(args) as server:
        headers = {"Authorization": f"Bearer {server.token}", "X-Soma-Tenant": "bench-" + uuid.uuid4().hex[:8]}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            run(client, args.count)


def run(client: httpx.Client, count: int) -> None:
    single = min(count, 2000)
    create_times = []
    for i in range(single):
        body = {"coord": f"{i}.5,1,2", "payload": {"content": f"benchmark memory number {i} about topic {i % 97}"}}
        started = time.perf_counter()
        response = client.post("/memories", json=body)
        create_times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    report("POST /memories", create_times)

    batch_size = 500
    started = time.perf_counter()
    stored = 0
    for start in range(0, count, batch_size):
        items = [
            {"coord": f"{i},7,7", "payload": {"content": f"batched memory {i}: notes on subject {i % 113}"}}
            for i in range(start, min(count, start + batch_size))
        ]
        response = client.post("/memories/batch", content=json.dumps({"memories": items}))
        assert response.status_code == 200, response.text
        stored += len(items)
    elapsed = time.perf_counter() - started
    print(
        f"{'POST /memories/batch (500/batch)':<34} {stored} memories in {elapsed:.1f} s = {stored / elapsed:,.0f} memories/s"
    )

    get_times = []
    for i in range(single):
        started = time.perf_counter()
        response = client.get(f"/memories/{i},7,7")
        get_times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    report("GET /memories/{coord}", get_times)


if __name__ == "__main__":
    main()
