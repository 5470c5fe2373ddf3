"""Hybrid's engine fetch in process, on the data dir bench/bench_search.py leaves (its server stopped).

    .venv/bin/python bench/bench_hybrid_fetch.py DIR [--queries 300] [--rounds 3]

DIR: the data dir bench_search.py printed ("data in ..."); it must not be served meanwhile
(the engine locks its folder). For each SciFact claim (embedded once), hybrid's two lists, the
dense and the BM25 top 51 in the bench's tenant, are fetched both ways, in alternating order:
two engine calls (`search`, then `search_sparse`: hybrid before `search_both`) and one
(`search_both`, the engine's query_batch). The result cache is emptied before each fetch, so
each one reaches the engine. Prints the p50/p99 of each and how many answers were identical.
Over HTTP, a difference of this size drowns in the machine's noise; here both run in one process.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import benchdata_dir, percentile, print_command  # noqa: E402

from vectors.embedding import QUANTIZED_MODEL_NAME, Embedder  # noqa: E402
from vectors.fusion import STATS_DEPTH  # noqa: E402
from vectors.sparse import bm25_query  # noqa: E402
from vectors.stores.edge import EdgeStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", default=str(benchdata_dir("scifact")))
    args = parser.parse_args()
    print_command()
    data_dir = Path(args.data_dir)
    tenant = (data_dir / "bench_tenant").read_text()
    claims = [json.loads(line)["text"] for line in (Path(args.data) / "queries.jsonl").open()][: args.queries]
    embedder = Embedder(quantize_into=Path(tempfile.gettempdir()) / "soma-model-cache")
    queries = [(embedder.embed([claim])[0].tolist(), bm25_query(claim)) for claim in claims]
    store = EdgeStore(data_dir / "qdrant", model_name=QUANTIZED_MODEL_NAME)
    print(
        f"{store.info()['points']} points; {len(queries)} claims x {args.rounds} rounds, top {STATS_DEPTH + 1} per side"
    )
    scope = {"tenant": tenant, "namespace": "default", "limit": STATS_DEPTH + 1}
    two_calls: list[float] = []
    one_call: list[float] = []
    identical = 0
    try:
        for round_ in range(args.rounds):
            for i, (vector, terms) in enumerate(queries):
                answers = []
                for batched in (False, True) if (i + round_) % 2 else (True, False):
                    store._forget_results()
                    started = time.perf_counter()
                    if batched:
                        answers.append(store.search_both(vector, terms, **scope))
                        one_call.append(time.perf_counter() - started)
                    else:
                        answers.append((store.search(vector, **scope), store.search_sparse(terms, **scope)))
                        two_calls.append(time.perf_counter() - started)
                identical += answers[0] == answers[1]
    finally:
        store.close()
    for label, samples in (("two engine calls", two_calls), ("search_both (one)", one_call)):
        print(
            f"{label:<20} p50 {1000 * percentile(samples, 0.5):.3f} ms  p99 {1000 * percentile(samples, 0.99):.3f} ms"
        )
    print(f"identical answers: {identical}/{len(one_call)}")


if __name__ == "__main__":
    main()
