"""Retrieval quality over HTTP on BEIR SciFact: each abstract a memory, each test claim a query.

    .venv/bin/python bench/bench_scifact.py [--url http://127.0.0.1:9595 --token T] [--data DIR]

Without --url it starts `scripts/serve.py` on the embedded default in a temporary data dir
(port 9598), loads the 5,183 abstracts through POST /memories/batch (with the repo's Python
client, client/) (payload {"doc_id",
"title", "content": title + " " + text}), then runs the 300 test claims through
POST /memories/search (top_k=10) in each mode and prints nDCG@10 and R@10 (BEIR's binary
relevance; also on the even and odd halves of the claims, the tuning and checking halves of
bench/fusion_offline.py), the ingest rate and the search latency. --degraded then restarts
the server on the same data with the vector store unreachable (PostgreSQL full text). Published for reference:
all-MiniLM-L6-v2 nDCG@10 0.645, BM25 0.687 (BEIR / MTEB).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import uuid
from pathlib import Path

from somafractalmemory_client import SomaClient
from somafractalmemory_client.models import SearchMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import BenchServer, add_server_arguments, benchdata_dir, percentile, print_command, scifact_load  # noqa: E402

MODES: tuple[SearchMode, ...] = ("vector", "keyword", "hybrid")
BATCH = 200  # ~1.6 kB per abstract: stays under the 1 MB request body limit


def scores(ranked: list[str], relevant: set[str]) -> tuple[float, float]:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return dcg / idcg, len(relevant & set(ranked[:10])) / len(relevant)


def ingest(client: SomaClient, docs: list[dict]) -> float:
    started = time.perf_counter()
    for i in range(0, len(docs), BATCH):
        items = [
            {"payload": {"doc_id": d["_id"], "title": d["title"], "content": f"{d['title']} {d['text']}".strip()}}
            for d in docs[i : i + BATCH]
        ]
        client.create_batch(items)
    return len(docs) / (time.perf_counter() - started)


def evaluate(client: SomaClient, queries: dict[str, str], qrels: dict[str, set[str]], mode: SearchMode) -> None:
    ndcgs, recalls, latencies, degraded = [], [], [], 0
    odd = set(list(queries)[1::2])
    for qid, text in queries.items():
        started = time.perf_counter()
        result = client.search(text, top_k=10, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
        degraded += result.degraded
        ranked = [hit.payload["doc_id"] for hit in result.memories]
        ndcg, recall = scores(ranked, qrels[qid])
        ndcgs.append(ndcg)
        recalls.append(recall)
    halves = [
        statistics.fmean(n for q, n in zip(queries, ndcgs, strict=True) if (q in odd) == o) for o in (False, True)
    ]
    print(
        f"{mode:<8} nDCG@10 {statistics.fmean(ndcgs):.4f} (even {halves[0]:.4f} odd {halves[1]:.4f})"
        f"  R@10 {statistics.fmean(recalls):.4f}  "
        f"latency p50 {percentile(latencies, 0.5):6.1f} ms  p99 {percentile(latencies, 0.99):6.1f} ms"
        + (f"  DEGRADED answers: {degraded}" if degraded else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser, port=9598)
    parser.add_argument("--data", default=str(benchdata_dir("scifact")))
    parser.add_argument("--degraded", action="store_true", help="then the PostgreSQL full-text fallback")
    args = parser.parse_args()
    print_command()
    docs, queries, qrels = scifact_load(Path(args.data))

    tenant = "scifact-" + uuid.uuid4().hex[:8]
    with BenchServer(args) as server:
        with SomaClient(server.url, token=server.token, tenant=tenant, timeout=600) as client:
            rate = ingest(client, docs)
            print(
                f"ingested {len(docs)} abstracts (~{statistics.fmean(len(d['text']) for d in docs):.0f} chars) "
                f"at {rate:.1f} memories/s (batches of {BATCH})"
            )
            print(f"{len(queries)} test claims, top_k=10; published: MiniLM-L6-v2 0.645, BM25 0.687")
            for mode in MODES:
                evaluate(client, queries, qrels, mode)
        if args.degraded and server.started_here:
            server.restart_degraded()
            with SomaClient(server.url, token=server.token, tenant=tenant, timeout=600) as client:
                evaluate(client, queries, qrels, "hybrid")  # any mode: PostgreSQL full text answers


if __name__ == "__main__":
    main()
