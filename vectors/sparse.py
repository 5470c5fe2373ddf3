"""BM25 sparse vectors for the lexical side of keyword and hybrid search.

The tokenizer and term weighting are Qdrant's own BM25 model, shipped compiled inside
qdrant-edge-py (`qdrant_edge.Bm25`, the same code as the Qdrant server's BM25 inference):
Unicode word split, lowercase, English stopwords, Snowball English stemmer, term ids by a
stable hash of the stem (no vocabulary table; identical across processes and machines).
It runs in Rust at ~0.1 ms per SciFact abstract (100k short sentences: 1.4 s), with no
extra dependency. Both stores (embedded and server) get vectors computed here, so a collection is
never filled by two different tokenizers.

Documents carry only the BM25 term-frequency part, tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len));
queries carry weight 1 per distinct term; the engine multiplies in the IDF itself
(`modifier: idf`), from statistics over the points actually stored, so nothing has to be
recomputed when the corpus grows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import qdrant_edge as qe

SPARSE_VECTOR_NAME = "bm25"
BM25_K1 = 1.2
BM25_B = 0.75
# Qdrant's default. On SciFact avg_len 100/150/256 gave BM25 nDCG@10 0.693/0.689/0.683 over all 300
# claims and 0.701/0.701/0.702 on the tuning half (bench/scifact_offline.py): not worth a knob.
BM25_AVG_LEN = 256.0
# Tokens beyond this are ignored: a huge memory must not make one giant sparse vector.
MAX_TEXT_CHARS = 100_000


@dataclass(frozen=True)
class SparseTerms:
    """An engine-neutral sparse vector: term ids (hashes) and their weights."""

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __bool__(self) -> bool:
        return bool(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


_local = threading.local()


def _model() -> qe.Bm25:
    model = getattr(_local, "model", None)
    if model is None:
        config = qe.Bm25Config(k=BM25_K1, b=BM25_B, avg_len=BM25_AVG_LEN, language="english")
        model = _local.model = qe.Bm25(config)
    return model


def _terms(vector: qe.SparseVector) -> SparseTerms:
    return SparseTerms(indices=tuple(vector.indices), values=tuple(vector.values))


def bm25_document(text: str) -> SparseTerms:
    """The document side: BM25 term-frequency weights (IDF is the engine's job)."""
    return _terms(_model().embed_document(text[:MAX_TEXT_CHARS]))


def bm25_query(text: str) -> SparseTerms:
    """The query side: weight 1 per distinct term; empty when the text is all stopwords."""
    return _terms(_model().embed_query(text[:MAX_TEXT_CHARS]))
