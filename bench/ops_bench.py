"""Throughput of throttled endpoints on a running server, and /metrics merged across workers.

    .venv/bin/python bench/ops_bench.py --url http://127.0.0.1:19595 --token TOKEN [--requests 2000] [--concurrency 8]

Start the server first with several workers and PROMETHEUS_MULTIPROC_DIR set (see
README.md, "Operating"). Only GETs: nothing is written. Loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import sys
import threading
import time
from urllib.parse import urlsplit


def run(url: str, path: str, headers: dict[str, str], total: int, concurrency: int) -> tuple[float, list[float], dict]:
    parts = urlsplit(url)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    per_thread = total // concurrency

    def worker() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine, codes = [], {}
        for _ in range(per_thread):
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            codes[response.status] = codes.get(response.status, 0) + 1
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_thread * concurrency / (time.perf_counter() - started), latencies, statuses


def scrape(url: str) -> str:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", "/metrics")
    return connection.getresponse().read().decode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:9595")
    parser.add_argument("--token", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    print("$ " + " ".join(a if a != args.token else "***" for a in sys.argv))
    for path, headers in [("/healthz", {}), ("/memories?limit=1", {"Authorization": f"Bearer {args.token}"})]:
        rate, latencies, statuses = run(args.url, path, headers, args.requests, args.concurrency)
        latencies.sort()
        print(
            f"GET {path:20s} {rate:7.0f} req/s  p50 {statistics.median(latencies):.2f} ms  "
            f"p99 {latencies[int(len(latencies) * 0.99)]:.2f} ms  statuses {statuses}"
        )
    started = time.perf_counter()
    counts = []
    for _ in range(4):
        text = scrape(args.url)
        match = re.search(r'^soma_http_request_seconds_count\{method="GET",route="/healthz"\} (\S+)$', text, re.M)
        counts.append(float(match.group(1)) if match else None)
    print(
        f"/metrics scrape {(time.perf_counter() - started) / 4 * 1000:.1f} ms, {len(text)} bytes; "
        f"/healthz count seen by 4 scrapes (any worker answers): {counts}"
    )


if __name__ == "__main__":
    main()
