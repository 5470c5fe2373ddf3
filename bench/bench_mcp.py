"""search_memories over MCP (/mcp) against POST /memories/search over REST, on the same store.

    .venv/bin/python bench/bench_mcp.py [--memories 2000] [--requests 500]
    .venv/bin/python bench/bench_mcp.py --url http://127.0.0.1:9595 --token T   # a running server

Without --url it starts `scripts/serve.py` on the embedded default (waitress, WSGI) in a
temporary data dir, or with --gunicorn the gunicorn + uvicorn workers (ASGI; it then needs a
Qdrant server in QDRANT_URL and a DATABASE_URL, else search is PostgreSQL full text). It stores
--memories memories through the Python client and times, each on one keep-alive http.client
connection, the same sequence of queries (--distinct of them, cycled, so most are repeats, as
an agent's are) as:

- REST: POST /memories/search;
- MCP: a `tools/call` of search_memories POSTed to /mcp as one JSON-RPC message (stateless
  streamable HTTP, JSON answer): the server's cost, as a host with its own client sees it;
- MCP through the SDK's own client (`mcp.Client`), which adds its client-side work.

It prints p50 and p99 of each and the overhead of MCP over REST.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import BenchServer, TimingClient, add_server_arguments, percentile, print_command
from somafractalmemory_client import SomaClient

TOKEN = ""  # the server's, set in main()
SUBJECTS = ["Alice", "Bob", "the team", "the client", "Dana", "the build", "the cat", "Priya"]
VERBS = ["prefers", "asked about", "complained about", "finished", "scheduled", "forgot", "liked", "moved"]
OBJECTS = [
    "green tea",
    "the quarterly report",
    "a trip to Lisbon",
    "the database migration",
    "jazz records",
    "the dentist appointment",
    "TypeScript generics",
    "the garden fence",
    "a sourdough starter",
    "the onboarding guide",
]


def _texts(count: int, rng: random.Random) -> list[str]:
    return [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} on day {i % 365}." for i in range(count)]


def _queries(distinct: int, rng: random.Random) -> list[str]:
    return [f"what did {rng.choice(SUBJECTS)} say about {rng.choice(OBJECTS)}" for _ in range(distinct)]


def _report(label: str, samples: list[float]) -> float:
    p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
    print(f"  {label:<44} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   ({len(samples)} requests)")
    return p50


def rest(url: str, queries: list[str], top_k: int) -> list[float]:
    client = TimingClient(url, {"Authorization": f"Bearer {TOKEN}"})
    samples = [client.post("/memories/search", {"query": query, "top_k": top_k})[0] for query in queries]
    client.close()
    return samples


def mcp_raw(url: str, queries: list[str], top_k: int) -> list[float]:
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    client = TimingClient(url, headers)
    samples = []
    for number, query in enumerate(queries):
        message = {
            "jsonrpc": "2.0",
            "id": number,
            "method": "tools/call",
            "params": {"name": "search_memories", "arguments": {"query": query, "top_k": top_k}},
        }
        elapsed, status, data = client.request("POST", "/mcp", message)
        answer = json.loads(data)
        if status != 200 or answer.get("result", {}).get("isError"):
            raise SystemExit(f"/mcp: {status} {data[:300]!r}")
        samples.append(elapsed)
    client.close()
    return samples


def mcp_sdk(url: str, queries: list[str], top_k: int) -> list[float]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> list[float]:
        samples = []
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,  # type: ignore[arg-type]
        ):
            for query in queries:
                started = time.perf_counter()
                result = await client.call_tool("search_memories", {"query": query, "top_k": top_k})
                samples.append((time.perf_counter() - started) * 1000)
                if result.is_error:
                    raise SystemExit(f"search_memories: {result.content}")
        return samples

    return asyncio.run(run())


def main() -> None:
    global TOKEN
    parser = argparse.ArgumentParser()
    add_server_arguments(parser, port=9597)
    parser.add_argument("--memories", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--distinct", type=int, default=50)
    parser.add_argument("--top-k", type=int, default=10)
    args = parser.parse_args()
    print_command()
    rng = random.Random(19)
    with BenchServer(args) as server:
        url, TOKEN = server.url, server.token
        with SomaClient(url, token=TOKEN, timeout=600) as soma:
            texts = _texts(args.memories, rng)
            for start in range(0, len(texts), 500):
                soma.create_batch([{"payload": {"content": text}} for text in texts[start : start + 500]])
            print(f"stored {args.memories} memories at {url}; top_k {args.top_k}, {args.distinct} distinct queries")
        distinct = _queries(args.distinct, rng)
        queries = [distinct[i % len(distinct)] for i in range(args.requests)]
        for warm in (rest, mcp_raw):
            warm(url, distinct, args.top_k)  # every query embedded once before timing
        rest_p50 = _report("REST POST /memories/search", rest(url, queries, args.top_k))
        raw_p50 = _report("MCP tools/call search_memories (one POST)", mcp_raw(url, queries, args.top_k))
        sdk_p50 = _report("MCP through the SDK's Client", mcp_sdk(url, queries, args.top_k))
        print(
            f"  overhead of MCP over REST at p50: {raw_p50 - rest_p50:+.2f} ms (server), {sdk_p50 - rest_p50:+.2f} ms (with the SDK client)"
        )


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
