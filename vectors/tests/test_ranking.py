"""Search with expiry, recency, importance, min_score and explain (vectors.ranking)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from memories.access import access_buffer, memory_access_flush
from memories.models import Memory
from vectors.stores.base import VectorStore

pytestmark = pytest.mark.django_db

REF = datetime(2026, 6, 1, tzinfo=UTC)
MODES = ("vector", "keyword", "hybrid")


@pytest.fixture(autouse=True)
def _empty_access_buffer():
    access_buffer.discard()
    yield
    access_buffer.discard()


def search(api: Any, **params: Any) -> Any:
    response = api.post("/memories/search", params)
    assert response.status_code == 200, response.content
    return response.json()


def texts(body: dict[str, Any]) -> list[str]:
    return [hit["text"] for hit in body["memories"]]


def aged(memory: Memory, *, days: float, importance: float | None = None) -> None:
    fields: dict[str, Any] = {"created_at": REF - timedelta(days=days)}
    if importance is not None:
        fields["importance"] = importance
    Memory.objects.filter(pk=memory.pk).update(**fields)


# --- expiry on every read path ----------------------------------------------------------------


def test_a_memory_with_ttl_1_disappears_from_every_read_path_before_any_sweep(
    edge_store: VectorStore, api: Any, write: Callable[..., Memory], store_down: Callable[[], VectorStore]
):
    anchor = write("Zebras have striped coats.")
    brief = write("Giraffes sleep standing up.", ttl_seconds=1)
    other = write("Giraffes have long necks.")
    assert api.post("/graph/link", {"from_id": str(anchor.pk), "to_id": str(brief.pk)}).status_code == 200
    query = "giraffes sleeping standing"
    # Before expiry: everywhere (and the search answers are cached by the rendered-search cache)
    for mode in MODES:
        assert texts(search(api, query=query, mode=mode, top_k=1)) == [brief.text]
    assert api.get(f"/memories/{brief.pk}").status_code == 200
    assert api.get("/stats").json()["total_memories"] == 3

    # The expiry itself is under test (read paths compare with the clock, no sweep runs): wait out
    # exactly the rest of the 1 s TTL, plus a margin for the database's clock.
    time.sleep(max(0.0, (brief.expires_at - datetime.now(UTC)).total_seconds()) + 0.05)

    # After: as if deleted, although the row and its point are still there
    assert Memory.objects.filter(pk=brief.pk).exists()
    assert api.get(f"/memories/{brief.pk}").status_code == 404
    assert api.get(f"/memories/{brief.pk}", {"include_expired": "true"}).status_code == 200
    assert str(brief.pk) not in {item["id"] for item in api.get("/memories").json()["items"]}
    assert api.get("/stats").json()["total_memories"] == 2
    for mode in MODES:
        # the page is filled from further down: the next giraffe, not an empty page
        assert texts(search(api, query=query, mode=mode, top_k=1)) == [other.text], mode
        assert brief.text not in texts(search(api, query=query, mode=mode, top_k=5, explain=True))
        recency = {"weight": 0.3}
        assert brief.text not in texts(search(api, query=query, mode=mode, recency=recency))
    expanded = search(api, query="zebra stripes", top_k=1, expand_hops=1)
    assert texts(expanded) == [anchor.text]
    neighbors = api.get("/graph/neighbors", {"id": str(anchor.pk)}).json()["neighbors"]
    assert all(n["memory"] is None or n["memory"]["id"] != str(brief.pk) for n in neighbors)
    assert api.post("/graph/link", {"from_id": str(anchor.pk), "to_id": str(brief.pk)}).status_code == 404
    # The degraded path (PostgreSQL full-text) hides it too
    store_down()
    degraded = search(api, query="giraffes", top_k=5)
    assert degraded["degraded"] is True
    assert texts(degraded) == [other.text]
    assert texts(search(api, query="giraffes", recency={"weight": 0.5}, explain=True)) == [other.text]


# --- recency and importance -------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_newer_memory_beats_an_older_more_similar_one_at_weight_half_only(
    vector_store: VectorStore, api: Any, write: Callable[..., Memory], mode: str
):
    old = write("Octopuses camouflage themselves by changing the color of their skin.")
    new = write("An octopus can change colour.")
    aged(old, days=365)
    aged(new, days=1)
    query = "how do octopuses camouflage by changing skin color"
    when = REF.isoformat()

    by_relevance = search(api, query=query, mode=mode, top_k=1, recency={"weight": 0.0}, reference_time=when)
    by_recency = search(api, query=query, mode=mode, top_k=1, recency={"weight": 0.5}, reference_time=when)

    # top_k=1: the newer one is second by relevance and still wins, from the wider pool
    assert texts(by_relevance) == [old.text]
    assert texts(by_recency) == [new.text]
    # reproducible: the same reference time gives the same scores
    again = search(api, query=query, mode=mode, top_k=1, recency={"weight": 0.5}, reference_time=when)
    assert again["memories"][0]["score"] == by_recency["memories"][0]["score"]


def test_a_recent_access_keeps_an_old_memory_fresh(edge_store: VectorStore, api: Any, write: Callable[..., Memory]):
    old = write("Octopuses camouflage themselves by changing the color of their skin.")
    new = write("An octopus can change colour.")
    aged(old, days=365)
    aged(new, days=20)
    Memory.objects.filter(pk=old.pk).update(last_accessed_at=REF - timedelta(hours=1))
    ranking = {"recency": {"weight": 0.5, "half_life_days": 30, "access_half_life_days": 7}}

    body = search(api, query="octopus camouflage", top_k=2, reference_time=REF.isoformat(), explain=True, **ranking)

    assert texts(body) == [old.text, new.text]
    weights = body["memories"][0]["score_details"]["weights"]
    recency_of_old = body["memories"][0]["score_details"]["recency"] / weights["recency"]
    assert recency_of_old == pytest.approx(0.5 ** ((1 / 24) / 7))


def test_importance_weight_lifts_an_important_memory(edge_store: VectorStore, api: Any, write: Callable[..., Memory]):
    plain = write("Octopuses camouflage themselves by changing the color of their skin.")
    vital = write("An octopus can change colour.")
    aged(plain, days=0, importance=0.0)
    aged(vital, days=0, importance=1.0)

    without = search(api, query="octopus camouflage skin color", top_k=1)
    weighted = search(api, query="octopus camouflage skin color", top_k=1, importance_weight=0.6)

    assert texts(without) == [plain.text]
    assert texts(weighted) == [vital.text]


# --- explain and min_score --------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_explain_parts_add_up_to_the_final_score(
    edge_store: VectorStore, api: Any, write: Callable[..., Memory], mode: str
):
    for days, text in enumerate(
        ["Bees dance to share where flowers are.", "Honeybees make honey.", "Ants farm fungi."]
    ):
        aged(write(text, importance=0.2 * days), days=10 * days)
    options = {"recency": {"weight": 0.3}, "importance_weight": 0.2, "reference_time": REF.isoformat()}

    body = search(api, query="bees and honey", mode=mode, top_k=3, explain=True, **options)

    assert len(body["memories"]) >= 2
    finals = []
    for hit in body["memories"]:
        details = hit["score_details"]
        assert set(details) == {"vector", "keyword", "relevance", "recency", "importance", "final", "weights"}
        assert details["weights"] == pytest.approx({"relevance": 0.5, "recency": 0.3, "importance": 0.2})
        assert details["relevance"] + details["recency"] + details["importance"] == details["final"]
        assert hit["score"] == details["final"]
        assert 0.0 <= details["relevance"] <= 0.5
        memory = Memory.objects.get(pk=hit["id"])
        assert details["importance"] == pytest.approx(0.2 * memory.importance)
        age_days = (REF - memory.created_at).total_seconds() / 86400
        assert details["recency"] == pytest.approx(0.3 * 0.5 ** (age_days / 30))
        finals.append(details["final"])
        if mode == "vector":
            assert (details["keyword"], details["relevance"]) == (None, pytest.approx(0.5 * details["vector"]))
        elif mode == "keyword":
            assert details["vector"] is None and details["keyword"] > 0
        else:
            assert details["vector"] is not None or details["keyword"] is not None
    assert finals == sorted(finals, reverse=True)


def test_without_ranking_options_the_answer_is_exactly_relevance(
    edge_store: VectorStore, api: Any, write: Callable[..., Memory]
):
    for text in ["Bees dance to share where flowers are.", "Honeybees make honey.", "Ants farm fungi."]:
        write(text, importance=0.9)
    plain = search(api, query="bees", top_k=3)

    zero = search(api, query="bees", top_k=3, recency={"weight": 0}, importance_weight=0)
    explained = search(api, query="bees", top_k=3, explain=True)

    assert zero == plain
    assert [(h["id"], h["score"]) for h in explained["memories"]] == [(h["id"], h["score"]) for h in plain["memories"]]
    for hit in explained["memories"]:
        details = hit["score_details"]
        assert (details["relevance"], details["recency"], details["importance"]) == (hit["score"], 0.0, 0.0)
        assert details["vector"] == hit["score"]
    assert all("score_details" not in hit for hit in plain["memories"])


def test_min_score_drops_the_hits_below_it(edge_store: VectorStore, api: Any, write: Callable[..., Memory]):
    for text in ["Bees dance to share where flowers are.", "Honeybees make honey.", "Ants farm fungi."]:
        write(text)
    scores = [hit["score"] for hit in search(api, query="bees making honey", top_k=3)["memories"]]
    floor = (scores[0] + scores[1]) / 2

    body = search(api, query="bees making honey", top_k=3, min_score=floor)

    assert [hit["score"] for hit in body["memories"]] == scores[:1]
    assert search(api, query="bees making honey", top_k=3, min_score=2.0)["memories"] == []


def test_server_defaults_apply_when_a_request_leaves_the_options_out(
    edge_store: VectorStore, api: Any, write: Callable[..., Memory], settings: Any
):
    old = write("Octopuses camouflage themselves by changing the color of their skin.")
    new = write("An octopus can change colour.")
    aged(old, days=365)
    aged(new, days=1)
    settings.SOMA_SEARCH_RECENCY_WEIGHT = 0.5

    body = search(
        api, query="how do octopuses camouflage by changing skin color", top_k=1, reference_time=REF.isoformat()
    )

    assert texts(body) == [new.text]


def test_get_search_takes_recency_as_json(edge_store: VectorStore, api: Any, write: Callable[..., Memory]):
    old = write("Octopuses camouflage themselves by changing the color of their skin.")
    new = write("An octopus can change colour.")
    aged(old, days=365)
    aged(new, days=1)
    params = {
        "query": "how do octopuses camouflage by changing skin color",
        "top_k": 1,
        "recency": json.dumps({"weight": 0.5}),
        "reference_time": REF.isoformat(),
        "explain": "true",
    }

    response = api.get("/memories/search", params)

    assert response.status_code == 200
    assert texts(response.json()) == [new.text]
    assert "score_details" in response.json()["memories"][0]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"recency": {"weight": 0.7}, "importance_weight": 0.5}, 400, "invalid_ranking"),
        ({"recency": {"weight": 1.5}}, 422, "validation_error"),
        ({"recency": {"weight": 0.2, "half_life_days": 0}}, 422, "validation_error"),
        ({"recency": {"weight": 0.2, "soon": 1}}, 422, "validation_error"),
        ({"importance_weight": -0.1}, 422, "validation_error"),
        ({"reference_time": "yesterday"}, 422, "validation_error"),
        ({"reference_time": 2035}, 422, "validation_error"),
        ({"min_score": "high"}, 422, "validation_error"),
    ],
)
def test_bad_ranking_options_are_refused(
    edge_store: VectorStore, api: Any, params: dict[str, Any], status: int, code: str
):
    response = api.post("/memories/search", {"query": "x", **params})

    assert response.status_code == status, response.content
    assert response.json()["code"] == code


def test_a_number_for_reference_time_on_get_is_refused_not_read_as_unix_time(edge_store: VectorStore, api: Any):
    # Found by the fuzz: pydantic alone reads "2035" as 2035 seconds after 1970.
    for raw in ("2035", "1.7e9", "-5"):
        response = api.get("/memories/search", {"query": "x", "reference_time": raw})
        assert (response.status_code, response.json()["code"]) == (422, "validation_error"), raw
    ok = api.get("/memories/search", {"query": "x", "reference_time": "2035-01-01T00:00:00Z"})
    assert ok.status_code == 200


def test_bad_recency_json_on_get_is_a_400(edge_store: VectorStore, api: Any):
    for raw in ("{not json", json.dumps({"weight": 3})):
        response = api.get("/memories/search", {"query": "x", "recency": raw})
        assert (response.status_code, response.json()["code"]) == (400, "invalid_ranking")


def test_a_reranked_answer_is_rendered_as_ninja_would_and_follows_row_changes(
    edge_store: VectorStore, api: Any, write: Callable[..., Memory]
):
    from soma_project.search_cache import rendered_memories

    for text in ["Bees dance to share where flowers are.", "Honeybees make honey.", "Ants farm fungi."]:
        write(text, coord=None, metadata={"k": text[:4]})
    options = {"query": "bees", "top_k": 3, "recency": {"weight": 0.4}, "reference_time": REF.isoformat()}
    rendered_memories.clear()

    for explain in (False, True):
        assembled = api.post("/memories/search", {**options, "explain": explain})
        again = api.post("/memories/search", {**options, "explain": explain})  # from the fragments
        by_ninja = api.post("/memories/search", {**options, "explain": explain, "expand_hops": 1})
        assert assembled.status_code == again.status_code == by_ninja.status_code == 200
        assert assembled.content == again.content == by_ninja.content
        assert assembled["Content-Type"] == by_ninja["Content-Type"]
    first = json.loads(assembled.content)["memories"][0]

    Memory.objects.filter(pk=first["id"]).update(payload={"content": "changed"})

    after = search(api, **options)
    assert next(hit for hit in after["memories"] if hit["id"] == first["id"])["payload"] == {"content": "changed"}


def test_forget_and_purge_take_the_vectors_with_them(
    edge_store: VectorStore, api: Any, write: Callable[..., Memory], django_capture_on_commit_callbacks: Any
):
    memories = [write(f"Fact number {i} about bees.") for i in range(4)]
    Memory.objects.filter(pk=memories[0].pk).update(expires_at=REF)
    assert edge_store.count(tenant="default") == 4

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/memories/forget", {"keep_top_n": 2, "dry_run": False})
        call_command("prune_expired", stdout=StringIO(), stderr=StringIO())

    assert response.json()["count"] == 1  # the expired one is not forgotten: it is purged
    assert Memory.objects.count() == edge_store.count(tenant="default") == 2


# --- access tracking from search --------------------------------------------------------------


def test_search_hits_count_as_accesses_once_flushed(edge_store: VectorStore, api: Any, write: Callable[..., Memory]):
    hit = write("Bees dance to share where flowers are.")
    miss = write("Volcanoes erupt molten rock.")
    for _ in range(3):
        search(api, query="bee dance", top_k=1)  # the second and third answers come from the cache
    search(api, query="bee dance", top_k=1, explain=True)

    memory_access_flush()

    counts = dict(Memory.objects.values_list("pk", "access_count"))
    assert (counts[hit.pk], counts[miss.pk]) == (4, 0)
    hit.refresh_from_db()
    assert hit.updated_at == Memory.objects.get(pk=hit.pk).updated_at
