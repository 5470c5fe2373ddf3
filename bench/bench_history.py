"""What the memory history costs the write path, and how fast a long history reads (issue 17).

    .venv/bin/python bench/bench_history.py [--rounds 4] [--singles 200] [--batches 4] [--versions 1000] [--port 9611]

Starts two embedded servers side by side, one with SOMA_HISTORY=true and one with false, and
alternates rounds between them (same run, same machine, same load): single POST /memories p50
and POST /memories/batch (500 per batch) memories/s. Then, on the server with history, one
memory is patched until it has --versions versions and GET /memories/{id}/history (first page
of 50, and a page deep in the history by cursor) is timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from benchlib import percentile, serve_embedded


def start(port: int, history: bool) -> tuple[object, str]:
    os.environ["SOMA_HISTORY"] = "true" if history else "false"
    token = "bench-" + uuid.uuid4().hex
    process = serve_embedded(port=port, data_dir=Path(tempfile.mkdtemp(prefix="soma-bench-history-")), token=token)
    return process, token


def singles(client: httpx.Client, count: int, tag: str) -> list[float]:
    samples = []
    for i in range(count):
        body = {"payload": {"content": f"{tag} single memory {i} {uuid.uuid4().hex[:6]}"}}
        started = time.perf_counter()
        response = client.post("/memories", json=body)
        samples.append(time.perf_counter() - started)
        response.raise_for_status()
    return samples


def batches(client: httpx.Client, count: int, tag: str) -> float:
    started = time.perf_counter()
    for b in range(count):
        body = {
            "memories": [
                {"payload": {"content": f"{tag} batch {b} item {i} {uuid.uuid4().hex[:6]}"}} for i in range(500)
            ]
        }
        client.post("/memories/batch", json=body, timeout=300).raise_for_status()
    return count * 500 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--port", type=int, default=9611, help="the server with history; the one without: the next")
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    ports = (args.port, args.port + 1)
    servers = {"history on": start(ports[0], True), "history off": start(ports[1], False)}
    clients = {
        name: httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        for (name, (_, token)), port in zip(servers.items(), ports, strict=True)
    }
    try:
        for client in clients.values():
            singles(client, 30, "warm-up")
            batches(client, 1, "warm-up")
        single_ms: dict[str, list[float]] = {name: [] for name in clients}
        rates: dict[str, list[float]] = {name: [] for name in clients}
        for round_ in range(args.rounds):
            order = list(clients) if round_ % 2 == 0 else list(reversed(clients))
            for name in order:
                single_ms[name] += [s * 1000 for s in singles(clients[name], args.singles, f"r{round_}")]
                rates[name].append(batches(clients[name], args.batches, f"r{round_}"))
        for name in clients:
            print(
                f"{name:<12} single POST p50 {percentile(single_ms[name], 0.5):6.2f} ms "
                f"p99 {percentile(single_ms[name], 0.99):6.2f} ms (n={len(single_ms[name])});  "
                f"batch {statistics.median(rates[name]):7.0f} memories/s (median of {len(rates[name])} rounds)"
            )
        on, off = (percentile(single_ms[n], 0.5) for n in clients)
        rate_on, rate_off = (statistics.median(rates[n]) for n in clients)
        print(
            f"history costs single POST p50 {100 * (on / off - 1):+.1f}%, batch rate {100 * (rate_on / rate_off - 1):+.1f}%"
        )

        client = clients["history on"]
        memory_id = client.post("/memories", json={"payload": {"content": "a memory changed many times"}}).json()[
            "memory"
        ]["id"]
        started = time.perf_counter()
        for n in range(args.versions - 1):
            client.patch(f"/memories/{memory_id}", json={"importance": (n % 100) / 100}).raise_for_status()
        print(f"{args.versions - 1} PATCHes in {time.perf_counter() - started:.1f} s")
        first: list[float] = []
        for _ in range(200):
            started = time.perf_counter()
            page = client.get(f"/memories/{memory_id}/history", params={"limit": 50})
            first.append((time.perf_counter() - started) * 1000)
        assert page.json()["items"][0]["version"] == args.versions
        cursor = page.json()["next_cursor"]
        for _ in range(10):  # walk deep into the history
            cursor = client.get(f"/memories/{memory_id}/history", params={"limit": 50, "cursor": cursor}).json()[
                "next_cursor"
            ]
        deep = []
        for _ in range(200):
            started = time.perf_counter()
            client.get(f"/memories/{memory_id}/history", params={"limit": 50, "cursor": cursor})
            deep.append((time.perf_counter() - started) * 1000)
        print(
            f"GET history of a memory with {args.versions} versions, 50 per page: first page p50 "
            f"{percentile(first, 0.5):.2f} ms, page 12 p50 {percentile(deep, 0.5):.2f} ms"
        )
    finally:
        for process, _ in servers.values():
            process.terminate()  # type: ignore[attr-defined]
            process.wait(timeout=60)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
