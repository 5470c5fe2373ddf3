from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from memories.filters import parse_filters
from memories.models import Memory
from memories.services.create import MemoryDraft, memory_batch_upsert
from vectors import metrics
from vectors.selectors import memory_search, memory_similar
from vectors.stores.base import VectorStore
from vectors.stores.edge import EdgeStore

pytestmark = pytest.mark.django_db

# Each memory and a paraphrase sharing (almost) no words with it. MiniLM ranks every memory
# first for its own paraphrase here, with a margin >= 0.04 cosine over the runner-up
# (smallest: the retrospective, 0.295 vs 0.254), so recall@1 is asserted at 1.0.
PARAPHRASES = [
    ("My sister's wedding is on the 14th of June in Lisbon.", "When is my sibling getting married?"),
    ("I am allergic to peanuts and carry an epinephrine pen.", "What food can give me a severe reaction?"),
    (
        "The office wifi password was changed to BlueHeron42 last Monday.",
        "What's the new wireless network key at work?",
    ),
    (
        "Our dog Biscuit needs his heartworm pill on the first of every month.",
        "When should the puppy get his medicine?",
    ),
    (
        "The quarterly sales report is due to the finance team on Friday.",
        "Deadline for sending revenue figures to accounting",
    ),
    ("I prefer aisle seats on long-haul flights.", "Which seat do I like when flying?"),
    ("The kitchen faucet has been dripping since the plumber left.", "Is there a leak in the sink?"),
    ("Maria recommended the novel 'The Overstory' about trees.", "Which book did my friend suggest reading?"),
    ("My blood pressure reading this morning was 128 over 82.", "What were my cardiovascular health numbers today?"),
    ("The car's next oil change is due at 45,000 miles.", "When does my vehicle need servicing?"),
    ("I started learning to play the cello in September.", "What musical instrument am I studying?"),
    ("The team retrospective moved to Thursdays at 3pm.", "When is our sprint review meeting now?"),
    ("Grandma's lasagna recipe uses ricotta, nutmeg and fresh basil.", "How do I make my grandmother's pasta bake?"),
    ("The server certificate for api.example.com expires on March 3rd.", "When does our TLS cert run out?"),
    ("I ran my first half marathon in 1 hour 52 minutes.", "What was my time in the 21 km race?"),
]


def store_all(capture: Any, drafts: list[MemoryDraft], *, tenant: str = "default") -> list[Memory]:
    with capture(execute=True):
        results = memory_batch_upsert(tenant=tenant, drafts=drafts)
    ids = [result.memory_id for result in results]
    by_id = Memory.objects.in_bulk(ids)
    return [by_id[memory_id] for memory_id in ids]


def draft(text: str, **fields: Any) -> MemoryDraft:
    return MemoryDraft(payload=fields.pop("payload", {"content": text}), text=text, **fields)


def texts(hits: list[tuple[Memory, float]]) -> list[str]:
    return [memory.text for memory, _ in hits]


def test_paraphrases_find_their_memory_first(vector_store: VectorStore, django_capture_on_commit_callbacks: Any):
    # Given the fixed set of memories on distinct topics
    store_all(django_capture_on_commit_callbacks, [draft(memory) for memory, _ in PARAPHRASES])

    # When each paraphrase is searched
    firsts = [texts(memory_search(tenant="default", query=query, top_k=1).hits) for _, query in PARAPHRASES]

    # Then every memory comes first for its own paraphrase: recall@1 = 1.0
    assert firsts == [[memory] for memory, _ in PARAPHRASES]


def test_hits_are_ranked_by_similarity_with_cosine_scores(
    vector_store: VectorStore, django_capture_on_commit_callbacks: Any
):
    store_all(django_capture_on_commit_callbacks, [draft(memory) for memory, _ in PARAPHRASES])

    result = memory_search(tenant="default", query="I am allergic to peanuts and carry an epinephrine pen.", top_k=3)

    scores = [score for _, score in result.hits]
    assert texts(result.hits)[0] == "I am allergic to peanuts and carry an epinephrine pen."
    assert scores[0] == pytest.approx(1.0, abs=0.02)
    assert scores == sorted(scores, reverse=True)
    assert len(scores) == 3
    assert result.degraded is False


def test_offset_pages_through_the_ranking(vector_store: VectorStore, django_capture_on_commit_callbacks: Any):
    store_all(django_capture_on_commit_callbacks, [draft(memory) for memory, _ in PARAPHRASES])
    query = "pets and health"

    whole = texts(memory_search(tenant="default", query=query, top_k=6).hits)
    second_page = texts(memory_search(tenant="default", query=query, top_k=3, offset=3).hits)

    assert second_page == whole[3:6]


def test_a_selective_filter_is_applied_before_ranking(
    vector_store: VectorStore, django_capture_on_commit_callbacks: Any
):
    # Given 300 memories about tea in project A and a single one in project B
    drafts = [draft(f"Green tea note {i}: steep sencha at 80 degrees.", metadata={"project": "A"}) for i in range(300)]
    drafts.append(draft("Brew oolong tea for three minutes.", metadata={"project": "B"}))
    drafts.append(draft("The bicycle tyre needs more air.", metadata={"project": "B"}))
    store_all(django_capture_on_commit_callbacks, drafts)

    # When the topic is searched in project B (post-filtering the top 5 would leave nothing)
    result = memory_search(
        tenant="default", query="green tea sencha", top_k=5, conditions=parse_filters({"project": "B"})
    )

    # Then project B's memories come back, the tea one first, and nothing from A
    assert texts(result.hits) == ["Brew oolong tea for three minutes.", "The bicycle tyre needs more air."]


def test_namespace_type_and_range_filters_hold(vector_store: VectorStore, django_capture_on_commit_callbacks: Any):
    store_all(
        django_capture_on_commit_callbacks,
        [
            draft("Pasta with tomato sauce", namespace="recipes", memory_type="semantic", payload={"stars": 5}),
            draft("Pasta with pesto", namespace="recipes", memory_type="episodic", payload={"stars": 2}),
            draft("Pasta shapes, a history", namespace="default", memory_type="semantic", payload={"stars": 4}),
        ],
    )

    def search(**scope: Any) -> list[str]:
        return sorted(texts(memory_search(tenant="default", query="pasta", top_k=10, **scope).hits))

    assert search(namespace="recipes") == ["Pasta with pesto", "Pasta with tomato sauce"]
    assert search(namespace="recipes", memory_type="semantic") == ["Pasta with tomato sauce"]
    assert search(namespace=None, conditions=parse_filters({"stars": {"gte": 4}})) == [
        "Pasta shapes, a history",
        "Pasta with tomato sauce",
    ]
    assert search(namespace=None, conditions=parse_filters({"stars": {"in": [2, 9]}})) == ["Pasta with pesto"]


def test_a_tenant_never_sees_another_tenants_memories(
    vector_store: VectorStore, django_capture_on_commit_callbacks: Any
):
    store_all(django_capture_on_commit_callbacks, [draft("The launch code is 0000.")], tenant="a")
    store_all(django_capture_on_commit_callbacks, [draft("The launch code is 1234.")], tenant="b")

    for mode in ("vector", "keyword", "hybrid"):
        hits = memory_search(tenant="a", query="launch code", top_k=100, mode=mode).hits

        assert [(m.tenant, m.text) for m, _ in hits] == [("a", "The launch code is 0000.")], mode


def test_keyword_mode_ranks_by_the_query_terms(vector_store: VectorStore, django_capture_on_commit_callbacks: Any):
    store_all(
        django_capture_on_commit_callbacks,
        [
            draft("Invoice INV-2291 was paid late."),
            draft("Invoices are sent monthly; invoice reminders weekly."),
            draft("The weather was lovely."),
        ],
    )

    result = memory_search(tenant="default", query="invoice", top_k=5, mode="keyword")

    assert sorted(texts(result.hits)) == [
        "Invoice INV-2291 was paid late.",
        "Invoices are sent monthly; invoice reminders weekly.",
    ]
    assert result.degraded is False


def test_hybrid_mode_finds_both_exact_terms_and_meaning(
    vector_store: VectorStore, django_capture_on_commit_callbacks: Any
):
    # An identifier only keywords can find, and a paraphrase only vectors can.
    store_all(
        django_capture_on_commit_callbacks,
        [draft(memory) for memory, _ in PARAPHRASES] + [draft("Ticket ZX-99812 tracks the login outage.")],
    )

    by_term = memory_search(tenant="default", query="ZX-99812", top_k=1, mode="hybrid")
    by_meaning = memory_search(tenant="default", query="Is there a leak in the sink?", top_k=1, mode="hybrid")

    assert texts(by_term.hits) == ["Ticket ZX-99812 tracks the login outage."]
    assert texts(by_meaning.hits) == ["The kitchen faucet has been dripping since the plumber left."]


def test_hybrid_asks_the_embedded_engine_once_for_both_lists(
    edge_store: EdgeStore, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
):
    store_all(django_capture_on_commit_callbacks, [draft(memory) for memory, _ in PARAPHRASES])
    batches: list[int] = []
    run_batch = EdgeStore._run_batch

    def counted(self: EdgeStore, requests: list[Any]) -> list[list[tuple[str, float]]]:
        batches.append(len(requests))
        return run_batch(self, requests)

    monkeypatch.setattr(EdgeStore, "_run_batch", counted)

    hybrid = memory_search(tenant="default", query="Is there a leak in the sink?", top_k=3, mode="hybrid")

    assert batches == [2]
    assert texts(hybrid.hits)[0] == "The kitchen faucet has been dripping since the plumber left."


def test_a_memory_gone_from_postgresql_is_skipped_even_if_its_point_remains(
    vector_store: VectorStore, django_capture_on_commit_callbacks: Any
):
    kept, gone = store_all(
        django_capture_on_commit_callbacks, [draft("Blue whales sing."), draft("Blue whales eat krill.")]
    )
    Memory.objects.filter(pk=gone.pk)._raw_delete(connection.alias)  # no signal: the point stays

    hits = memory_search(tenant="default", query="blue whales", top_k=5).hits

    assert vector_store.count(tenant="default") == 2
    assert [memory.pk for memory, _ in hits] == [kept.pk]


def test_a_repeated_query_is_embedded_once_and_costs_one_query(
    vector_store: VectorStore, django_capture_on_commit_callbacks: Any, django_assert_num_queries: Callable[..., Any]
):
    store_all(django_capture_on_commit_callbacks, [draft("Otters hold hands while sleeping.")])
    before = metrics.EMBEDDINGS._value.get()

    with django_assert_num_queries(1):
        first = memory_search(tenant="default", query="sea mammals resting", top_k=3)
    with django_assert_num_queries(1):
        again = memory_search(tenant="default", query="sea mammals resting", top_k=3)

    assert metrics.EMBEDDINGS._value.get() - before == 1
    assert texts(again.hits) == texts(first.hits) == ["Otters hold hands while sleeping."]


def test_every_mode_costs_one_query(
    vector_store: VectorStore, django_capture_on_commit_callbacks: Any, django_assert_num_queries: Callable[..., Any]
):
    store_all(django_capture_on_commit_callbacks, [draft("Otters hold hands while sleeping.")])

    for mode in ("vector", "keyword", "hybrid"):
        with django_assert_num_queries(1):
            result = memory_search(tenant="default", query="otters", mode=mode)

        assert texts(result.hits) == ["Otters hold hands while sleeping."], mode


def test_search_degrades_to_full_text_when_the_store_is_down(
    vector_store: VectorStore,
    django_capture_on_commit_callbacks: Any,
    store_down: Callable[[], VectorStore],
    django_assert_num_queries: Callable[..., Any],
):
    store_all(
        django_capture_on_commit_callbacks, [draft("Otters hold hands while sleeping."), draft("Cats nap a lot.")]
    )
    store_down()
    failures = metrics.VECTOR_FAILURES.labels(operation="search")._value.get()

    with django_assert_num_queries(1):
        result = memory_search(tenant="default", query="otters sleeping", top_k=5, mode="hybrid")

    assert result.degraded is True
    assert texts(result.hits) == ["Otters hold hands while sleeping."]
    assert metrics.VECTOR_FAILURES.labels(operation="search")._value.get() == failures + 1


def test_degraded_full_text_matches_any_term_and_ranks_the_best_match_first(
    vector_store: VectorStore, django_capture_on_commit_callbacks: Any, store_down: Callable[[], VectorStore]
):
    store_all(
        django_capture_on_commit_callbacks,
        [
            draft("Otters hold hands while sleeping."),
            draft("Sea otters use rocks as tools."),
            draft("Cats nap a lot."),
        ],
    )
    store_down()

    # A natural-language question: no memory holds every term, two hold some.
    result = memory_search(
        tenant="default", query="why do otters hold hands when they are sleeping at night", top_k=5, mode="keyword"
    )

    assert result.degraded is True
    assert texts(result.hits) == ["Otters hold hands while sleeping.", "Sea otters use rocks as tools."]


def test_similar_memories_exclude_the_memory_itself(vector_store: VectorStore, django_capture_on_commit_callbacks: Any):
    memories = store_all(
        django_capture_on_commit_callbacks,
        [draft("Cats purr when content."), draft("Kittens purr while nursing."), draft("Tax forms are due in April.")],
    )

    similar = memory_similar(memory=memories[0], limit=2)

    assert [memory.text for memory, _ in similar] == ["Kittens purr while nursing.", "Tax forms are due in April."]
    assert similar[0][1] > similar[1][1]
