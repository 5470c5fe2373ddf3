"""POST /memories/search with `context`: each hit brings its neighbouring turns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from memories.models import Memory
from vectors.stores.base import VectorStore

pytestmark = pytest.mark.django_db

TURNS = [
    "Caroline said, hi Mel, how have you been lately",
    "Melanie said, swamped with the kids and work",
    "Caroline said, I went to the pottery workshop yesterday",
    "Melanie said, that sounds lovely, what did you make",
    "Caroline said, a blue bowl for my grandmother",
]


def conversation(write: Callable[..., Memory], namespace: str = "chat", order: list[int] | None = None) -> list[Memory]:
    """The turns with metadata.seq 1..5, written in `order` (creation order is not the turn order)."""
    made: dict[int, Memory] = {}
    for index in order or list(range(len(TURNS))):
        made[index] = write(TURNS[index], namespace=namespace, metadata={"seq": index + 1})
    return [made[i] for i in range(len(TURNS))]


def hits(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    return response.json()["memories"]


def texts(memories: list[dict[str, Any]] | None) -> list[str]:
    return [memory["text"] for memory in memories or []]


def test_each_hit_brings_the_turns_around_it_in_sequence_order(
    vector_store: VectorStore, api: Any, write: Callable[..., Memory]
):
    conversation(write, order=[4, 0, 2, 1, 3])
    conversation(write, namespace="other")  # the same turns elsewhere never leak in

    (one,) = hits(
        api.post(
            "/memories/search", {"query": "pottery", "namespace": "chat", "mode": "keyword", "top_k": 1, "context": 1}
        )
    )
    (two,) = hits(
        api.post(
            "/memories/search", {"query": "pottery", "namespace": "chat", "mode": "keyword", "top_k": 1, "context": 2}
        )
    )

    assert one["text"] == TURNS[2]
    assert texts(one["context"]) == [TURNS[1], TURNS[3]]
    assert texts(two["context"]) == [TURNS[0], TURNS[1], TURNS[3], TURNS[4]]
    assert {m["namespace"] for m in two["context"]} == {"chat"}
    assert [m["metadata"]["seq"] for m in two["context"]] == [1, 2, 4, 5]


def test_turns_that_share_the_hits_seq_sit_beside_it_in_creation_order(
    vector_store: VectorStore, api: Any, write: Callable[..., Memory]
):
    """Seqs 1, 2, 2, 2, 3: the hit, one of the 2s, once had only the 1 and the 3 around it."""
    seqs = [1, 2, 2, 2, 3]
    for index, seq in enumerate(seqs):
        write(TURNS[index], namespace="ties", metadata={"seq": seq})

    (hit,) = hits(
        api.post(
            "/memories/search", {"query": "pottery", "namespace": "ties", "mode": "keyword", "top_k": 1, "context": 5}
        )
    )

    assert hit["text"] == TURNS[2]  # the second of the three 2s
    assert texts(hit["context"]) == [TURNS[0], TURNS[1], TURNS[3], TURNS[4]]
    (narrow,) = hits(
        api.post(
            "/memories/search", {"query": "pottery", "namespace": "ties", "mode": "keyword", "top_k": 1, "context": 1}
        )
    )
    assert texts(narrow["context"]) == [TURNS[1], TURNS[3]]  # its nearest: the 2s written just before and after


def test_the_first_and_last_turns_have_context_on_one_side(
    vector_store: VectorStore, api: Any, write: Callable[..., Memory]
):
    conversation(write)

    body = {"query": "grandmother", "namespace": "chat", "mode": "keyword", "top_k": 1, "context": 2}
    (last,) = hits(api.post("/memories/search", body))
    (first,) = hits(api.post("/memories/search", body | {"query": "lately"}))

    assert texts(last["context"]) == [TURNS[2], TURNS[3]]
    assert texts(first["context"]) == [TURNS[1], TURNS[2]]


def test_without_a_sequence_key_context_follows_creation_order(
    vector_store: VectorStore, api: Any, write: Callable[..., Memory]
):
    for text in TURNS:
        write(text, namespace="plain")

    (hit,) = hits(
        api.post(
            "/memories/search", {"query": "pottery", "namespace": "plain", "mode": "keyword", "top_k": 1, "context": 1}
        )
    )

    assert texts(hit["context"]) == [TURNS[1], TURNS[3]]


def test_without_context_hits_carry_none_and_every_mode_takes_it(
    vector_store: VectorStore, api: Any, write: Callable[..., Memory]
):
    conversation(write)

    (plain,) = hits(api.post("/memories/search", {"query": "pottery", "namespace": "chat", "top_k": 1}))
    assert plain["context"] is None
    for mode in ("vector", "keyword", "hybrid"):
        (hit,) = hits(
            api.post(
                "/memories/search",
                {"query": "pottery workshop", "namespace": "chat", "mode": mode, "top_k": 1, "context": 1},
            )
        )
        assert (hit["text"], texts(hit["context"])) == (TURNS[2], [TURNS[1], TURNS[3]]), mode


def test_context_costs_one_query_for_all_the_hits(
    vector_store: VectorStore,
    api: Any,
    write: Callable[..., Memory],
    django_assert_num_queries: Callable[..., Any],
):
    conversation(write)
    body = {"query": "Caroline said", "namespace": "chat", "mode": "keyword", "top_k": 5, "context": 1}
    api.post("/memories/search", body)  # the query's embedding is cached from here on

    with django_assert_num_queries(2):  # the hits, then every hit's context
        answer = hits(api.post("/memories/search", body))

    assert len(answer) == 5
    assert all(len(hit["context"]) in (1, 2) for hit in answer)


def test_another_tenants_turns_never_appear_in_context(
    vector_store: VectorStore, api: Any, api_for: Callable[..., Any], write: Callable[..., Memory]
):
    other = api_for("globex")
    for index, text in enumerate(TURNS):
        write(text, client=other, namespace="chat", metadata={"seq": index + 1})
    write(TURNS[2], namespace="chat", metadata={"seq": 3})

    (hit,) = hits(
        api.post(
            "/memories/search", {"query": "pottery", "namespace": "chat", "mode": "keyword", "top_k": 1, "context": 2}
        )
    )

    assert hit["context"] == []
