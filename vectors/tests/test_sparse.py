from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests_support.factories import Cond, pid, point, unit
from vectors.sparse import SparseTerms, bm25_document, bm25_query
from vectors.stores.base import VectorPoint, VectorStore

# --- the encoder ------------------------------------------------------------------


def test_stemming_maps_inflections_to_one_term() -> None:
    # Given two inflections of the same word
    # When both are encoded as queries
    # Then they hit the same term id
    assert bm25_query("running").indices == bm25_query("runs").indices
    assert len(bm25_query("running")) == 1


def test_stopwords_and_case_are_dropped() -> None:
    assert bm25_query("The AND of") == SparseTerms(indices=(), values=())
    assert not bm25_query("the of and")
    assert bm25_query("Protein").indices == bm25_query("protein").indices


def test_query_weights_are_one_per_distinct_term() -> None:
    terms = bm25_query("insulin insulin resistance")
    assert len(terms) == 2
    assert terms.values == (1.0, 1.0)


def test_document_weights_saturate_with_term_frequency() -> None:
    # Given one word repeated once, twice and ten times in documents of equal length
    once = bm25_document("insulin a b c d e f g h i j")
    twice = bm25_document("insulin insulin b c d e f g h i j")
    many = bm25_document(" ".join(["insulin"] * 10) + " a b")
    term = bm25_query("insulin").indices[0]

    def weight(terms: SparseTerms) -> float:
        return terms.values[terms.indices.index(term)]

    # Then the weight grows with frequency but stays below k1 + 1 = 2.2
    assert weight(once) < weight(twice) < weight(many) < 2.2


def test_term_ids_are_stable_across_processes() -> None:
    # Given a term id computed here and one in a fresh interpreter
    code = "from vectors.sparse import bm25_query; print(bm25_query('mitochondria').indices[0])"
    root = Path(__file__).resolve().parents[2]
    other = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    # Then they are equal: no vocabulary table is needed
    assert int(other.stdout.strip()) == bm25_query("mitochondria").indices[0]


# --- both stores -----------------------------------------------------------------

CORPUS = [
    "Insulin resistance in skeletal muscle precedes type 2 diabetes.",
    "Vitamin D supplementation and bone density in elderly women.",
    "Tumor suppressor p53 regulates apoptosis after DNA damage.",
    "Diabetes prevalence rose in young adults; diabetes care lags.",
]


def test_sparse_search_ranks_rare_terms_higher(store: VectorStore) -> None:
    # Given four documents, two of which mention diabetes
    store.upsert([point(i, text=text) for i, text in enumerate(CORPUS)])
    # When searching for a rare word plus a common one
    hits = store.search_sparse(bm25_query("apoptosis diabetes"), tenant="acme", limit=10)
    # Then only matching documents come back, the rare-term match first (IDF from the engine)
    ids = [hit_id for hit_id, _ in hits]
    assert ids[0] == pid(2)
    assert set(ids) == {pid(0), pid(2), pid(3)}
    assert all(score > 0 for _, score in hits)


def test_sparse_search_stems_the_query(store: VectorStore) -> None:
    store.upsert([point(i, text=text) for i, text in enumerate(CORPUS)])
    hits = store.search_sparse(bm25_query("supplements for elderly woman"), tenant="acme", limit=3)
    assert [hit_id for hit_id, _ in hits] == [pid(1)]


def test_sparse_search_respects_tenant_and_filters(store: VectorStore) -> None:
    # Given the same text in two tenants and under two payload values
    store.upsert(
        [
            point(0, text="p53 apoptosis", tenant="acme", payload={"lab": "x"}),
            point(1, text="p53 apoptosis", tenant="acme", payload={"lab": "y"}),
            point(2, text="p53 apoptosis", tenant="other", payload={"lab": "x"}),
        ]
    )
    terms = bm25_query("apoptosis")
    # Then the other tenant's point never appears and the filter runs before ranking
    assert {h for h, _ in store.search_sparse(terms, tenant="acme", limit=10)} == {pid(0), pid(1)}
    hits = store.search_sparse(terms, tenant="acme", conditions=[Cond("lab", "eq", "y")], limit=1)
    assert [h for h, _ in hits] == [pid(1)]


def test_empty_query_finds_nothing_lexically(store: VectorStore) -> None:
    store.upsert([point(i, text=text) for i, text in enumerate(CORPUS)])
    assert store.search_sparse(bm25_query("the of"), tenant="acme") == []


def test_both_searches_at_once_answer_as_each_alone(store: VectorStore) -> None:
    # Given four documents and a point of another tenant with the same words
    store.upsert([point(i, text=text) for i, text in enumerate(CORPUS)] + [point(9, text=CORPUS[0], tenant="other")])
    terms = bm25_query("insulin diabetes")
    # When the dense and the BM25 search run together (hybrid's one engine call)
    dense, sparse = store.search_both(unit(0), terms, tenant="acme", limit=3)
    # Then each list is the one its search alone returns; no terms: no BM25 list
    assert dense == store.search(unit(0), tenant="acme", limit=3)
    assert sparse == store.search_sparse(terms, tenant="acme", limit=3)
    assert {h for h, _ in sparse} == {pid(0), pid(3)}
    assert store.search_both(unit(0), bm25_query("the"), tenant="acme", limit=3) == (dense, [])


def test_points_without_sparse_vector_stay_dense_searchable(store: VectorStore) -> None:
    # Given a point upserted with no sparse vector (e.g. an empty text)
    plain = VectorPoint(pid(5), unit(5), "acme", "default", "episodic", 0.0)
    store.upsert([plain, point(0, text=CORPUS[0])])
    # Then it is found by vector search (so hybrid's dense list holds it), never by keyword search
    assert store.search(unit(5), tenant="acme", limit=1)[0][0] == pid(5)
    assert [h for h, _ in store.search_sparse(bm25_query("insulin"), tenant="acme")] == [pid(0)]


def test_updating_the_text_replaces_the_sparse_vector(store: VectorStore) -> None:
    store.upsert([point(0, text="insulin resistance"), point(1, text="vitamin d")])
    store.upsert([point(0, text="apoptosis")])
    assert store.search_sparse(bm25_query("insulin"), tenant="acme") == []
    assert [h for h, _ in store.search_sparse(bm25_query("apoptosis"), tenant="acme")] == [pid(0)]


def test_a_repeated_search_sees_every_write_made_since(store: VectorStore) -> None:
    # Given a search answered once (the embedded store keeps its answer until the next write)
    store.upsert([point(0, text="insulin resistance"), point(1, text="vitamin d")])
    terms = bm25_query("insulin")
    assert [h for h, _ in store.search(unit(7), tenant="acme", limit=1)] != [pid(7)]
    assert [h for h, _ in store.search_sparse(terms, tenant="acme")] == [pid(0)]
    # When a nearer point is added and the lexical match deleted
    store.upsert([VectorPoint(pid(7), unit(7), "acme", "default", "episodic", 0.0)])
    store.delete([pid(0)])
    # Then the same searches see both writes
    assert [h for h, _ in store.search(unit(7), tenant="acme", limit=1)] == [pid(7)]
    assert store.search_sparse(terms, tenant="acme") == []
    assert store.search_both(unit(7), terms, tenant="acme", limit=1) == ([(pid(7), pytest.approx(1.0, abs=1e-3))], [])
