"""Search speed when the vector store is down: the PostgreSQL full-text fallback at scale.

    .venv/bin/python bench/bench_degraded.py --reuse DIR [--queries 200]

DIR is a data dir left by `bench/bench_search.py` (100,000 memories in one tenant). The
server is started on it with the embedded PostgreSQL and QDRANT_URL pointing at a closed port,
so every search answers `"degraded": true` from PostgreSQL full text (any query term matches,
ranked by ts_rank). Prints p50/p99 of fresh and repeated queries, with and without the 1%
metadata filter, over one keep-alive http.client connection.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import corpus_texts
from benchlib import TimingClient, benchdata_dir, percentile, print_command, serve_degraded

TOKEN = "bench-degraded-token"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reuse", required=True, help="a data dir left by bench/bench_search.py")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--port", type=int, default=9597)
    parser.add_argument("--data", default=str(benchdata_dir("scifact")))
    args = parser.parse_args()
    print_command()
    data_dir = Path(args.reuse)
    tenant = (data_dir / "bench_tenant").read_text().strip()
    _, queries = corpus_texts(Path(args.data), 100_000, args.queries * 2)

    process = serve_degraded(port=args.port, data_dir=data_dir, token=TOKEN)
    client = TimingClient(
        f"http://127.0.0.1:{args.port}", {"Authorization": f"Bearer {TOKEN}", "X-Soma-Tenant": tenant}
    )
    try:
        for label, filters, chunk in (
            ("no filter", None, queries[: args.queries]),
            ("filter user_id=u7 (1%)", {"user_id": "u7"}, queries[args.queries :]),
        ):
            fresh, repeated, empty = [], [], 0
            for text in chunk:
                body = {"query": text, "top_k": 10} | ({"filters": filters} if filters else {})
                elapsed, answer = client.post("/memories/search", body)
                if not answer["degraded"]:
                    raise SystemExit("the answer was not degraded: is something listening on port 9?")
                fresh.append(elapsed)
                empty += not answer["memories"]
                repeated.append(client.post("/memories/search", body)[0])
            print(
                f"degraded {label:<24} fresh p50 {percentile(fresh, 0.5):7.2f} p99 {percentile(fresh, 0.99):7.2f} ms"
                f" | repeated p50 {percentile(repeated, 0.5):7.2f} p99 {percentile(repeated, 0.99):7.2f} ms"
                + (f" | empty answers {empty}" if empty else "")
            )
    finally:
        client.close()
        process.terminate()
        process.wait(60)


if __name__ == "__main__":
    main()
