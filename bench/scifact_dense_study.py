"""Offline study: can the document side, not the fusion, lift hybrid SciFact nDCG@10 to 0.74?

    .venv/bin/python bench/scifact_dense_study.py [--scifact DIR]

The fusion is the default (vectors.fusion) throughout; what changes is how an abstract is
represented. SciFact abstracts run past the model's 256 tokens (5,073 of 5,183 are longer than
126 word pieces), so the tail of most abstracts never reaches the dense side. Compared:
- the whole text at 256 tokens (the server) and at 512 (the model's position limit);
- 126-word-piece passages, embedded too: their mean blended into the whole-text vector (one
  vector per memory, no change to search), and the best passage's cosine blended into the
  whole text's (max-sim, which would need a multivector or a point per passage);
- BM25's k1, b and avg_len (qdrant-edge's BM25, the engine's IDF).
Each row prints vector-only, keyword-only and hybrid nDCG@10 on the even half (tuning), the odd
half (check) and all 300 claims. Embeddings (int8 model, batches of bench_scifact.BATCH as the
server embeds them) are cached as .npy under /tmp; the first run embeds ~37,000 texts (~14 min
on one core).
"""

from __future__ import annotations

import argparse
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

import qdrant_edge as qe  # noqa: E402
from bench_scifact import BATCH  # noqa: E402
from benchlib import benchdata_dir, print_command, scifact_load  # noqa: E402
from fusion_offline import ndcg  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from vectors import fusion  # noqa: E402
from vectors.embedding import Embedder, default_tokenizer_file  # noqa: E402
from vectors.sparse import BM25_AVG_LEN, BM25_B, BM25_K1, SparseTerms  # noqa: E402
from vectors.stores.base import VectorPoint  # noqa: E402
from vectors.stores.edge import EdgeStore  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "soma-scifact-dense-study"
MODEL_CACHE = Path(tempfile.gettempdir()) / "soma-model-cache"
PASSAGE_TOKENS = 126  # + [CLS] and [SEP]: 128, the length MiniLM was trained on
DEPTH = 100
Ranked = list[tuple[str, float]]


def cached(name: str, build: Callable[[], np.ndarray]) -> np.ndarray:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"{name}.npy"
    if not path.exists():
        started = time.perf_counter()
        np.save(path, build())
        print(f"embedded {name} in {time.perf_counter() - started:.0f} s", flush=True)
    return np.load(path)


def embed(embedder: Embedder, texts: list[str]) -> np.ndarray:
    return np.vstack([embedder.embed(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])


def passages(tokenizer: Tokenizer, text: str) -> list[str]:
    """The text cut into runs of PASSAGE_TOKENS word pieces (by character offsets); [] when it fits in one."""
    encoding = tokenizer.encode(text)
    offsets = [
        offset for offset, special in zip(encoding.offsets, encoding.special_tokens_mask, strict=True) if not special
    ]
    if len(offsets) <= PASSAGE_TOKENS:
        return []
    return [
        text[offsets[start][0] : offsets[min(start + PASSAGE_TOKENS, len(offsets)) - 1][1]]
        for start in range(0, len(offsets), PASSAGE_TOKENS)
    ]


def dense_runs(scores: np.ndarray, ids: list[str], qids: list[str]) -> dict[str, Ranked]:
    top = np.argsort(-scores, axis=1)[:, :DEPTH]
    return {qid: [(ids[j], float(scores[i, j])) for j in top[i]] for i, qid in enumerate(qids)}


def bm25_runs(
    texts: list[str], ids: list[str], claims: dict[str, str], *, k1: float, b: float, avg_len: float
) -> dict[str, Ranked]:
    model = qe.Bm25(qe.Bm25Config(k=k1, b=b, avg_len=avg_len, language="english"))
    store = EdgeStore(Path(tempfile.mkdtemp(prefix="dense-study-")), model_name="study", flush_interval=1e9)
    store.ensure_collection()
    back = {str(uuid.uuid5(uuid.NAMESPACE_URL, i)): i for i in ids}
    points = []
    for point_id, text in zip(back, texts, strict=True):
        terms = model.embed_document(text)
        points.append(
            VectorPoint(
                id=point_id,
                vector=np.full(store.dimension, 0.05, dtype=np.float32),  # unused: sparse search only
                tenant="t",
                namespace="default",
                memory_type="episodic",
                created_ts=0.0,
                sparse=SparseTerms(tuple(terms.indices), tuple(terms.values)),
            )
        )
    for start in range(0, len(points), 500):
        store.upsert(points[start : start + 500])
    runs = {}
    for qid, claim in claims.items():
        terms = model.embed_query(claim)
        hits = store.search_sparse(
            SparseTerms(tuple(terms.indices), tuple(terms.values)), tenant="t", namespace="default", limit=DEPTH
        )
        runs[qid] = [(back[i], s) for i, s in hits]
    store.close()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scifact", default=str(benchdata_dir("scifact")))
    args = parser.parse_args()
    print_command()
    docs, claims, qrels = scifact_load(Path(args.scifact))
    qids = list(claims)
    even, odd = qids[0::2], qids[1::2]
    ids = [d["_id"] for d in docs]
    texts = [f"{d['title']} {d['text']}".strip() for d in docs]
    embedder = Embedder(quantize_into=MODEL_CACHE)
    queries = cached("claims", lambda: np.vstack([embedder.embed([claims[q]])[0] for q in qids]))
    whole = cached("whole-256", lambda: embed(embedder, texts))
    whole_512 = cached("whole-512", lambda: embed(Embedder(quantize_into=MODEL_CACHE, max_tokens=512), texts))
    tokenizer = Tokenizer.from_file(str(default_tokenizer_file()))  # the server's, untruncated and unpadded
    tokenizer.no_truncation()
    tokenizer.no_padding()
    cut = [passages(tokenizer, text) for text in texts]
    flat = cached("passages", lambda: embed(Embedder(quantize_into=MODEL_CACHE), [p for parts in cut for p in parts]))
    print(f"{sum(1 for parts in cut if parts)} of {len(texts)} abstracts longer than {PASSAGE_TOKENS} word pieces")
    spans, start = [], 0
    for parts in cut:
        spans.append((start, start + len(parts)))
        start += len(parts)

    def row(name: str, dense: dict[str, Ranked], sparse: dict[str, Ranked]) -> None:
        runs = {q: (dense[q], sparse[q]) for q in qids}
        hybrid = lambda d, s: fusion.fused_ranking(d[: fusion.STATS_DEPTH], s[: fusion.STATS_DEPTH])  # noqa: E731
        print(
            f"{name:<42} {ndcg(runs, qrels, qids, lambda d, s: d):6.4f} {ndcg(runs, qrels, qids, lambda d, s: s):7.4f}"
            f" | {ndcg(runs, qrels, even, hybrid):6.4f} {ndcg(runs, qrels, odd, hybrid):6.4f}"
            f" {ndcg(runs, qrels, qids, hybrid):6.4f}",
            flush=True,
        )

    def unit(vectors: np.ndarray) -> np.ndarray:
        return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)

    default_bm25 = bm25_runs(texts, ids, claims, k1=BM25_K1, b=BM25_B, avg_len=BM25_AVG_LEN)
    whole_scores = queries @ whole.T
    best_passage = whole_scores.copy()
    for j, (low, high) in enumerate(spans):
        if high > low:
            best_passage[:, j] = (queries @ flat[low:high].T).max(axis=1)
    print(f"{'':<42} vector keyword | hybrid even    odd    all")
    row("whole text, 256 tokens (the server)", dense_runs(whole_scores, ids, qids), default_bm25)
    row("whole text, 512 tokens", dense_runs(queries @ whole_512.T, ids, qids), default_bm25)
    for share in (0.2, 0.3, 0.5):
        blended = np.vstack(
            [
                unit((1 - share) * w + share * unit(flat[low:high].mean(axis=0))) if high > low else w
                for w, (low, high) in zip(whole, spans, strict=True)
            ]
        )
        row(
            f"one vector: {1 - share:.1f} whole + {share:.1f} passage mean",
            dense_runs(queries @ blended.T, ids, qids),
            default_bm25,
        )
    for share in (0.2, 0.3, 0.5, 1.0):
        mixed = (1 - share) * whole_scores + share * best_passage
        row(f"max-sim: {1 - share:.1f} whole + {share:.1f} best passage", dense_runs(mixed, ids, qids), default_bm25)
    whole_runs = dense_runs(whole_scores, ids, qids)
    for k1, b, avg_len in (
        (0.9, 0.4, 256.0),
        (0.9, 0.75, 256.0),
        (1.5, 0.75, 256.0),
        (1.2, 0.5, 256.0),
        (1.2, 0.9, 256.0),
        (2.0, 0.75, 256.0),
        (1.2, 0.75, 150.0),
        (1.2, 0.75, 100.0),
    ):
        sparse = bm25_runs(texts, ids, claims, k1=k1, b=b, avg_len=avg_len)
        row(f"BM25 k1 {k1} b {b} avg_len {avg_len:.0f}", whole_runs, sparse)


if __name__ == "__main__":
    main()
