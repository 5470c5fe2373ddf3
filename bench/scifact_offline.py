"""Offline (in-process, no HTTP) study of dense, lexical and fused retrieval on BEIR SciFact.

    .venv/bin/python bench/scifact_offline.py [--data DIR] [--pg postgres://...]

Embeds the corpus once (title + " " + text, as BEIR does; cached as .npy under /tmp), then
compares: dense cosine; PostgreSQL full-text (ts_rank_cd with websearch / plainto / OR
queries); BM25 sparse vectors in the embedded Qdrant engine (qdrant-edge's BM25 model, IDF
from the engine); and fusions of dense with each lexical side (RRF k, weighted RRF, DBSF,
min-max weighted score fusion). Parameters are tuned on the even-indexed half of the 300
test claims and reported on the odd half and on all (SciFact ships no train qrels here).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import qdrant_edge as qe  # noqa: E402
from benchlib import benchdata_dir, scifact_load  # noqa: E402

from vectors.embedding import Embedder  # noqa: E402
from vectors.sparse import bm25_document, bm25_query  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "soma-scifact-cache"
Ranking = list[str]


def ndcg_recall(run: dict[str, Ranking], qrels: dict[str, set[str]], qids: list[str]) -> tuple[float, float]:
    ndcgs, recalls = [], []
    for qid in qids:
        rel, ranked = qrels[qid], [doc for doc, _ in run.get(qid, [])[:10]]
        dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked) if d in rel)
        idcg = sum(1 / math.log2(i + 2) for i in range(min(len(rel), 10)))
        ndcgs.append(dcg / idcg)
        recalls.append(len(rel & set(ranked)) / len(rel))
    return float(np.mean(ndcgs)), float(np.mean(recalls))


def embeddings(docs: list[dict], queries: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    CACHE.mkdir(exist_ok=True)
    cfile, qfile = CACHE / "corpus.npy", CACHE / "queries.npy"
    embedder = Embedder()
    if not cfile.exists():
        started = time.perf_counter()
        vectors = embedder.embed([f"{d['title']} {d['text']}".strip() for d in docs])
        print(f"embedded {len(docs)} abstracts in {time.perf_counter() - started:.0f} s")
        np.save(cfile, vectors)
    qvec = embedder.embed(list(queries.values()))
    np.save(qfile, qvec)
    return np.load(cfile), qvec


def dense_run(cvec: np.ndarray, qvec: np.ndarray, ids: list[str], qids: list[str], depth: int) -> dict:
    scores = qvec @ cvec.T
    top = np.argsort(-scores, axis=1)[:, :depth]
    return {qid: [(ids[j], float(scores[i, j])) for j in top[i]] for i, qid in enumerate(qids)}


def pg_runs(pg_url: str, docs: list[dict], queries: dict[str, str], depth: int) -> dict[str, dict]:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS scifact_docs")
        conn.execute(
            "CREATE TABLE scifact_docs (id text primary key, body text,"
            " doc tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED)"
        )
        with conn.cursor().copy("COPY scifact_docs (id, body) FROM STDIN") as copy:
            for d in docs:
                copy.write_row((d["_id"], f"{d['title']} {d['text']}".strip()))
        conn.execute("CREATE INDEX ON scifact_docs USING gin (doc)")
        conn.execute("ANALYZE scifact_docs")
        variants = {
            "pg_websearch": "websearch_to_tsquery('english', %s)",
            "pg_plainto": "plainto_tsquery('english', %s)",
            "pg_or": "CAST(replace(CAST(plainto_tsquery('english', %s) AS text), '&', '|') AS tsquery)",
        }
        runs: dict[str, dict] = {}
        for name, tsq in variants.items():
            for rank_fn, norm in (("ts_rank_cd", 0), ("ts_rank_cd", 1), ("ts_rank", 1)):
                label = f"{name}/{rank_fn}/{norm}"
                sql = (
                    f"SELECT id, {rank_fn}(doc, q, {norm}) AS r FROM scifact_docs, {tsq} q"
                    f" WHERE doc @@ q ORDER BY r DESC LIMIT {depth}"
                )
                run = {}
                started = time.perf_counter()
                for qid, text in queries.items():
                    run[qid] = [(i, float(r)) for i, r in conn.execute(sql, (text,)).fetchall()]
                runs[label] = run
                runs[label + "@ms"] = (time.perf_counter() - started) / len(queries) * 1000  # type: ignore[assignment]
        conn.execute("DROP TABLE scifact_docs")
    return runs


def edge_sparse(terms) -> qe.SparseVector:
    return qe.SparseVector(list(terms.indices), list(terms.values))


def edge_shard(docs: list[dict], cvec: np.ndarray, path: Path) -> tuple[qe.EdgeShard, dict[str, str]]:
    config = qe.EdgeConfig(
        vectors=qe.EdgeVectorParams(size=cvec.shape[1], distance=qe.Distance.Cosine),
        sparse_vectors={"bm25": qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
    )
    shard = qe.EdgeShard.create(str(path), config)
    back: dict[str, str] = {}
    points = []
    for d, vec in zip(docs, cvec, strict=True):
        pid = str(uuid.uuid5(uuid.NAMESPACE_URL, d["_id"]))
        back[pid] = d["_id"]
        sparse = edge_sparse(bm25_document(f"{d['title']} {d['text']}".strip()))
        points.append(qe.Point(pid, {"": vec.tolist(), "bm25": sparse}, {"tenant": "t"}))
    for i in range(0, len(points), 500):
        shard.update(qe.UpdateOperation.upsert_points(points[i : i + 500]))
    return shard, back


def edge_run(shard: qe.EdgeShard, back: dict, queries: dict, qvec: np.ndarray, make: Callable, depth: int) -> dict:
    run = {}
    for (qid, text), vec in zip(queries.items(), qvec, strict=True):
        hits = shard.query(make(text, vec.tolist(), depth))
        run[qid] = [(back[str(h.id)], float(h.score)) for h in hits]
    return run


def rrf(runs: list[dict], qid: str, k: float, weights: list[float], depth: int) -> list[tuple[str, float]]:
    scores: dict[str, float] = {}
    for run, weight in zip(runs, weights, strict=True):
        for rank, (doc, _) in enumerate(run.get(qid, [])[:depth]):
            scores[doc] = scores.get(doc, 0.0) + weight / (k + rank + 1)
    return sorted(scores.items(), key=lambda item: -item[1])


def minmax(dense: dict, lexical: dict, qid: str, alpha: float, depth: int) -> list[tuple[str, float]]:
    scores: dict[str, float] = {}
    for run, weight in ((dense, alpha), (lexical, 1 - alpha)):
        hits = run.get(qid, [])[:depth]
        if not hits:
            continue
        values = [s for _, s in hits]
        low, high = min(values), max(values)
        for doc, s in hits:
            scores[doc] = scores.get(doc, 0.0) + weight * ((s - low) / (high - low) if high > low else 1.0)
    return sorted(scores.items(), key=lambda item: -item[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(benchdata_dir("scifact")))
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/quality_scifact")
    parser.add_argument("--depth", type=int, default=50)
    args = parser.parse_args()
    print("command:", " ".join(["python", *sys.argv]))
    docs, queries, qrels = scifact_load(Path(args.data))
    qids = list(queries)
    tune, hold = qids[0::2], qids[1::2]
    cvec, qvec = embeddings(docs, queries)
    ids = [d["_id"] for d in docs]
    depth = args.depth
    runs: dict[str, dict] = {"dense": dense_run(cvec, qvec, ids, qids, depth)}
    if args.pg:
        try:
            pg = pg_runs(args.pg, docs, queries, depth)
            runs |= {k: v for k, v in pg.items() if not k.endswith("@ms")}
            for k, v in pg.items():
                if k.endswith("@ms"):
                    print(f"  {k[:-3]}: {v:.1f} ms/query")
        except Exception as exc:  # a missing PostgreSQL only drops those rows
            print(f"PostgreSQL skipped: {exc}")

    path = Path(tempfile.mkdtemp(prefix="scifact-edge-"))
    try:
        started = time.perf_counter()
        shard, back = edge_shard(docs, cvec, path / "shard")
        print(f"edge shard with dense + bm25 built in {time.perf_counter() - started:.1f} s")

        def sparse(text, vec, limit):
            return qe.QueryRequest(limit=limit, query=qe.Query.Nearest(edge_sparse(bm25_query(text)), using="bm25"))

        runs["edge_bm25"] = edge_run(shard, back, queries, qvec, sparse, depth)

        def engine_fusion(fusion, prefetch_depth=depth):
            def make(text, vec, limit):
                prefetches = [
                    qe.Prefetch(limit=prefetch_depth, query=qe.Query.Nearest(vec)),
                    qe.Prefetch(
                        limit=prefetch_depth, query=qe.Query.Nearest(edge_sparse(bm25_query(text)), using="bm25")
                    ),
                ]
                return qe.QueryRequest(limit=10, query=fusion, prefetches=prefetches)

            return make

        started = time.perf_counter()
        runs["edge_rrf60"] = edge_run(shard, back, queries, qvec, engine_fusion(qe.Fusion.Rrf(k=60)), 10)
        print(f"  engine hybrid query: {(time.perf_counter() - started) / len(qids) * 1000:.2f} ms/query (5k docs)")
        runs["edge_dbsf"] = edge_run(shard, back, queries, qvec, engine_fusion(qe.Fusion.Dbsf()), 10)
        for other in (20, 100):
            make = engine_fusion(qe.Fusion.Dbsf(), other)
            runs[f"edge_dbsf_depth{other}"] = edge_run(shard, back, queries, qvec, make, 10)
        shard.close()
        for avg_len in (100.0, 150.0):
            # A sparse-only shard per BM25 length norm: how much does avg_len matter here?
            model = qe.Bm25(qe.Bm25Config(avg_len=avg_len, language="english"))
            config = qe.EdgeConfig(sparse_vectors={"bm25": qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)})
            other_shard = qe.EdgeShard.create(str(path / f"avg{avg_len}"), config)
            points = [
                qe.Point(pid, {"bm25": model.embed_document(f"{d['title']} {d['text']}".strip())})
                for pid, d in zip(back, docs, strict=True)
            ]
            other_shard.update(qe.UpdateOperation.upsert_points(points))
            runs[f"edge_bm25_avglen{avg_len:.0f}"] = edge_run(other_shard, back, queries, qvec, sparse, depth)
            other_shard.close()
    finally:
        shutil.rmtree(path, ignore_errors=True)

    def show(name: str, run: dict) -> None:
        t, h, a = (ndcg_recall(run, qrels, s) for s in (tune, hold, qids))
        print(f"{name:42s} nDCG@10 tune {t[0]:.4f} hold {h[0]:.4f} all {a[0]:.4f} | R@10 all {a[1]:.4f}")

    print("\n== single retrievers ==")
    for name, run in runs.items():
        show(name, run)

    lexicals = [name for name in runs if name.startswith(("pg_or/", "edge_bm25", "pg_websearch/ts_rank_cd/0"))]
    print(f"\n== client-side fusion with dense (top-{depth} each) ==")
    best: tuple[float, str, dict] = (0.0, "", {})
    for lex in lexicals:
        for k in (10, 30, 60, 100):
            for w in (0.5, 1.0, 1.5, 2.0):
                fused = {q: rrf([runs["dense"], runs[lex]], q, k, [1.0, w], depth) for q in qids}
                name = f"rrf({lex}, k={k}, w_lex={w})"
                score = ndcg_recall(fused, qrels, tune)[0]
                if k == 60 and w == 1.0:
                    show(name, fused)
                if score > best[0]:
                    best = (score, name, fused)
        for alpha in (0.3, 0.4, 0.5, 0.6, 0.7):
            fused = {q: minmax(runs["dense"], runs[lex], q, alpha, depth) for q in qids}
            name = f"minmax({lex}, alpha_dense={alpha})"
            score = ndcg_recall(fused, qrels, tune)[0]
            if alpha == 0.5:
                show(name, fused)
            if score > best[0]:
                best = (score, name, fused)
    print("\nbest on the tuning half:")
    show(best[1], best[2])


if __name__ == "__main__":
    main()
