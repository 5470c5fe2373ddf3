"""Offline (in-process, no HTTP) study of the hybrid fusion on conversations and on abstracts.

    .venv/bin/python bench/fusion_offline.py [--locomo DIR] [--scifact DIR]

DIR: the LoCoMo turns/queries of bench/bench_locomo.py and BEIR SciFact (default
$SOMA_BENCHDATA/locomo-dev and $SOMA_BENCHDATA/scifact, see bench/README.md). Embeds every text once with the server's default embedder (cached as
.npy under /tmp), loads both corpora into a real EdgeStore (dense + BM25, one namespace per
conversation, IDF from the engine), fetches each query's dense and BM25 top 100 once, then
scores fusions of those two lists in Python: the default (vectors.fusion), Qdrant's DBSF
over the top 50 (the 1.3 default, which the engine computed then), RRF, min-max, and z-score variants (floor rank, σ depth,
lexical weight, BM25's own σ depth and floor). Prints LoCoMo R@5 / R@10 (protocol of bench/bench_locomo.py) and SciFact
nDCG@10 on the even half (tuning), the odd half (check) and all claims.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_locomo import BATCH as LOCOMO_BATCH  # noqa: E402
from bench_locomo import load as locomo_load  # noqa: E402
from bench_locomo import turn_text  # noqa: E402
from bench_scifact import BATCH as SCIFACT_BATCH  # noqa: E402
from benchlib import benchdata_dir, scifact_load  # noqa: E402

from vectors import fusion  # noqa: E402
from vectors.embedding import Embedder  # noqa: E402
from vectors.sparse import bm25_document, bm25_query  # noqa: E402
from vectors.stores.base import VectorPoint  # noqa: E402
from vectors.stores.edge import EdgeStore  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "soma-fusion-cache"
DEPTH = 100
Ranked = list[tuple[str, float]]
Fuse = Callable[[Ranked, Ranked], Ranked]


def lists(
    embedder: Embedder, name: str, items: list[tuple[str, str, str]], queries: list[tuple[str, str, str]], batch: int
):
    """items (id, text, namespace), queries (qid, text, namespace) → {qid: (dense, sparse)}.

    The int8 model quantizes activations per batch, so a text's vector depends a little on its
    batch: texts are embedded `batch` at a time as the HTTP bench posts them, queries one by
    one as the server embeds them, so these lists are the ones the server ranks."""
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"{name}-{embedder.model_name}-batch{batch}.npy"
    if not cached.exists():
        started = time.perf_counter()
        texts = [text for _, text, _ in items]
        np.save(cached, np.vstack([embedder.embed(texts[i : i + batch]) for i in range(0, len(texts), batch)]))
        print(f"embedded {len(items)} {name} texts in {time.perf_counter() - started:.0f} s")
    vectors = np.load(cached)
    store = EdgeStore(Path(tempfile.mkdtemp(prefix="fusion-")), model_name=embedder.model_name, flush_interval=1e9)
    store.ensure_collection()
    back = {str(uuid.uuid5(uuid.NAMESPACE_URL, i)): i for i, _, _ in items}
    points = [
        VectorPoint(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, i)),
            vector=vector,
            tenant="t",
            namespace=namespace,
            memory_type="episodic",
            created_ts=0.0,
            sparse=bm25_document(text),
        )
        for (i, text, namespace), vector in zip(items, vectors, strict=True)
    ]
    for start in range(0, len(points), 500):
        store.upsert(points[start : start + 500])
    runs = {}
    for qid, text, namespace in queries:
        vector = embedder.embed([text])[0]
        terms = bm25_query(text)
        dense = store.search(vector, tenant="t", namespace=namespace, limit=DEPTH)
        sparse = store.search_sparse(terms, tenant="t", namespace=namespace, limit=DEPTH)
        runs[qid] = tuple([(back[i], s) for i, s in ranked] for ranked in (dense, sparse))
    store.close()
    return runs


def recall(locomo_runs: dict, evidence: dict[str, set[str]], k: int, pick: Callable) -> float:
    return 100 * statistics.fmean(
        len(evidence[q] & {d for d, _ in pick(*lists_)[:k]}) / len(evidence[q]) for q, lists_ in locomo_runs.items()
    )


def ndcg(runs: dict, qrels: dict[str, set[str]], qids: list[str], pick: Callable) -> float:
    values = []
    for q in qids:
        ranked = [d for d, _ in pick(*runs[q])[:10]]
        dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked) if d in qrels[q])
        values.append(dcg / sum(1 / math.log2(i + 2) for i in range(min(len(qrels[q]), 10))))
    return statistics.fmean(values)


def rrf(k: float) -> Fuse:
    def fuse(dense: Ranked, sparse: Ranked) -> Ranked:
        scores: dict[str, float] = {}
        for ranked in (dense[:50], sparse[:50]):
            for rank, (d, _) in enumerate(ranked):
                scores[d] = scores.get(d, 0.0) + 1 / (k + rank + 1)
        return sorted(scores.items(), key=lambda item: -item[1])

    return fuse


def minmax(dense: Ranked, sparse: Ranked) -> Ranked:
    scores: dict[str, float] = {}
    for ranked in (dense[:50], sparse[:50]):
        if ranked:
            low, high = ranked[-1][1], ranked[0][1]
            for d, s in ranked:
                scores[d] = scores.get(d, 0.0) + ((s - low) / (high - low) if high > low else 1.0)
    return sorted(scores.items(), key=lambda item: -item[1])


def dbsf(dense: Ranked, sparse: Ranked) -> Ranked:
    """Qdrant's distribution-based score fusion over each side's top 50 (hybrid until 1.3): each
    score mapped by mean ± 3σ of its list onto 0..1 (clipped), then summed. An empty side adds nothing."""
    scores: dict[str, float] = {}
    for ranked in (dense[:50], sparse[:50]):
        if not ranked:
            continue
        values = [score for _, score in ranked]
        mean, sigma = statistics.fmean(values), statistics.pstdev(values)
        low, high = mean - 3 * sigma, mean + 3 * sigma
        for d, score in ranked:
            scores[d] = scores.get(d, 0.0) + (min(max((score - low) / (high - low), 0.0), 1.0) if high > low else 0.5)
    return sorted(scores.items(), key=lambda item: -item[1])


def zscore(
    floor_rank: int,
    stats_depth: int,
    lexical_weight: float = 1.0,
    *,
    lexical_stats: int | None = None,
    lexical_floor: int | None = None,
) -> Fuse:
    """z-scores against each side's top `stats_depth` (BM25: `lexical_stats`), floor at
    `floor_rank` (BM25: `lexical_floor`); the default sets both sides alike."""

    def fuse(dense: Ranked, sparse: Ranked) -> Ranked:
        scores: dict[str, float] = {}
        parts = []
        sides = (
            (dense, 1.0, stats_depth, floor_rank),
            (sparse, lexical_weight, lexical_stats or stats_depth, lexical_floor or floor_rank),
        )
        for ranked, weight, depth, side_floor in sides:
            values = [s for _, s in ranked[:depth]]
            if len(values) < 2 or statistics.pstdev(values) == 0:
                parts.append(({d: 1.0 for d, _ in ranked[:side_floor]}, 0.0, weight))
                continue
            mean, spread = statistics.fmean(values), statistics.pstdev(values)
            top = ranked[:side_floor]
            parts.append(({d: (s - mean) / spread for d, s in top}, (top[-1][1] - mean) / spread, weight))
        for d in {d for d, _ in dense[:50]} | {d for d, _ in sparse[:50]}:
            scores[d] = sum(w * max(z.get(d, floor), floor) for z, floor, w in parts)
        return sorted(scores.items(), key=lambda item: -item[1])

    return fuse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--locomo", default=str(benchdata_dir("locomo-dev")))
    parser.add_argument("--scifact", default=str(benchdata_dir("scifact")))
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    embedder = Embedder(quantize_into=Path(tempfile.gettempdir()) / "soma-model-cache")
    turns, questions = locomo_load(Path(args.locomo))
    locomo = lists(
        embedder,
        "locomo",
        [(t["id"], turn_text(t), t["conv_id"]) for t in turns],
        [(q["qid"], q["question"], q["conv_id"]) for q in questions],
        LOCOMO_BATCH,
    )
    evidence = {q["qid"]: set(q["evidence"]) for q in questions}
    docs, claims, qrels = scifact_load(Path(args.scifact))
    scifact = lists(
        embedder,
        "scifact",
        [(d["_id"], f"{d['title']} {d['text']}".strip(), "default") for d in docs],
        [(q, text, "default") for q, text in claims.items()],
        SCIFACT_BATCH,
    )
    qids = list(claims)
    even, odd = qids[0::2], qids[1::2]

    candidates: dict[str, Callable] = {
        "vector": lambda d, s: d,
        "keyword": lambda d, s: s,
        "DBSF top 50 (1.3 default)": lambda d, s: dbsf(d, s),
        "default (vectors.fusion)": lambda d, s: fusion.fused_ranking(d[:50], s[:50]),
        "RRF k=1": lambda d, s: rrf(1)(d, s),
        "RRF k=60": lambda d, s: rrf(60)(d, s),
        "min-max sum": lambda d, s: minmax(d, s),
    }
    for floor_rank in (10, 20, 30, 50):
        for weight in (0.8, 1.0, 1.25):
            fuse = zscore(floor_rank, 50, weight)
            candidates[f"z floor {floor_rank} σ top 50 w_lex {weight}"] = lambda d, s, f=fuse: f(d, s)
    # The dense side as above (σ top 50, floor 30); BM25's own σ depth and floor.
    for lexical_stats in (20, 30, 50):
        for lexical_floor in (30, 40, 50):
            fuse = zscore(30, 50, lexical_stats=lexical_stats, lexical_floor=lexical_floor)
            name = f"z BM25 σ top {lexical_stats} floor {lexical_floor}"
            candidates[name] = lambda d, s, f=fuse: f(d, s)
    print(f"{'':<36} LoCoMo R@5  R@10 | SciFact nDCG@10 even (tune)  odd (check)  all")
    for name, pick in candidates.items():
        print(
            f"{name:<36} {recall(locomo, evidence, 5, pick):10.1f} {recall(locomo, evidence, 10, pick):5.1f} |"
            f" {ndcg(scifact, qrels, even, pick):27.4f} {ndcg(scifact, qrels, odd, pick):12.4f}"
            f" {ndcg(scifact, qrels, qids, pick):6.4f}"
        )


if __name__ == "__main__":
    main()
