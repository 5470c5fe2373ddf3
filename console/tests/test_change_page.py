from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape

from graph.models import Link
from memories.models import Memory
from tests_support.factories import link_upserted
from vectors.services.indexing import memories_index

pytestmark = pytest.mark.django_db


def change_url(memory: Memory) -> str:
    return f"/admin/memories/memory/{memory.pk}/change/"


def inline_management(outgoing: int = 0, incoming: int = 0) -> dict[str, str]:
    fields = {}
    for prefix, initial in (("outgoing_links", outgoing), ("incoming_links", incoming)):
        fields.update(
            {
                f"{prefix}-TOTAL_FORMS": str(initial),
                f"{prefix}-INITIAL_FORMS": str(initial),
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    return fields


def change_form(memory: Memory, **overrides: str) -> dict[str, str]:
    form = {
        "memory_type": memory.memory_type,
        "importance": str(memory.importance),
        "payload": json.dumps(memory.payload, indent=2),
        "metadata": json.dumps(memory.metadata, indent=2),
        "text": memory.text,
        **inline_management(),
    }
    form.update(overrides)
    return form


def snapshot(memory: Memory) -> dict[str, Any]:
    return {
        field.attname: getattr(memory, field.attname) for field in Memory._meta.concrete_fields if not field.generated
    }


def test_change_page_shows_pretty_json_and_the_embedded_text(curator_client: Client, make_memory: Any) -> None:
    memory = make_memory({"content": "Lighthouse log", "keeper": {"name": "Ada"}}, metadata={"source": "diary"})
    response = curator_client.get(change_url(memory))
    form = response.context["adminform"].form
    assert form["payload"].value() == '{\n  "keeper": {\n    "name": "Ada"\n  },\n  "content": "Lighthouse log"\n}'
    assert form["metadata"].value() == '{\n  "source": "diary"\n}'
    assert form["text"].value() == "Lighthouse log"


def test_json_edit_saves_through_the_service_and_re_embeds(
    curator_client: Client, make_memory: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Given an indexed memory
    memory = make_memory({"content": "old words"})
    Memory.objects.filter(pk=memory.pk).update(vector_status="indexed")
    # When a curator edits its payload
    with django_capture_on_commit_callbacks() as callbacks:
        response = curator_client.post(
            change_url(memory), change_form(memory, payload='{"content": "new words", "mood": "calm"}')
        )
    # Then it is saved, the text follows the payload, and the vector is pending until the commit
    assert response.status_code == 302
    stored = Memory.objects.get(pk=memory.pk)
    assert (stored.payload, stored.text, stored.vector_status) == (
        {"content": "new words", "mood": "calm"},
        "new words",
        "pending",
    )
    assert callbacks, "saving scheduled no re-embedding"
    # When the transaction's on-commit work runs, the memory is re-embedded
    for callback in callbacks:
        callback()
    stored.refresh_from_db()
    assert stored.vector_status == "indexed"
    assert stored.vector_error == ""


def test_editing_the_text_or_importance_keeps_the_payload(curator_client: Client, make_memory: Any) -> None:
    memory = make_memory({"content": "derived"}, importance=0.1)
    response = curator_client.post(change_url(memory), change_form(memory, text="explicit words", importance="0.9"))
    assert response.status_code == 302
    stored = Memory.objects.get(pk=memory.pk)
    assert (stored.payload, stored.text, stored.importance) == ({"content": "derived"}, "explicit words", 0.9)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("payload", '{"content": "unterminated', "Enter a valid JSON."),
        ("payload", '["a", "list"]', "payload must be a JSON object."),
        (
            "metadata",
            '{"n": 1e400}',
            "metadata: numbers must be finite, within the range of a double (about ±1.8e308) and not so small that they round to 0.",
        ),
        ("metadata", "{'single': 'quotes'}", "Enter a valid JSON."),
        ("importance", "1.5", "importance must be a number between 0 and 1."),
    ],
)
def test_invalid_input_is_refused_and_nothing_changes(
    curator_client: Client, make_memory: Any, field: str, value: str, message: str
) -> None:
    # Given a memory
    memory = make_memory({"content": "keep"}, metadata={"a": 1})
    before = snapshot(Memory.objects.get(pk=memory.pk))
    # When a curator submits a bad value (along with a valid change elsewhere)
    overrides = {field: value}
    if field != "text":
        overrides["text"] = "this change must not be saved either"
    response = curator_client.post(change_url(memory), change_form(memory, **overrides))
    # Then the page comes back with the error, the input kept, and the row unchanged
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    if message == "Enter a valid JSON.":
        assert escape(value) in response.content.decode()  # what was typed is shown again, to be fixed
    assert snapshot(Memory.objects.get(pk=memory.pk)) == before


def test_links_show_as_inlines_and_save_through_the_graph_service(curator_client: Client, make_memory: Any) -> None:
    # Given a -> b
    a, b = make_memory({"content": "a"}, coord="1"), make_memory({"content": "b"}, coord="2")
    link_upserted(a, b, "cites", 0.5)
    existing = Link.objects.get()
    response = curator_client.get(change_url(a))
    assert [f.instance.pk for f in response.context["inline_admin_formsets"][0].formset.forms] == [existing.pk]
    # When the curator changes the strength in the outgoing inline
    form = change_form(a, **inline_management(outgoing=1))
    form.update(
        {
            "outgoing_links-0-id": str(existing.pk),
            "outgoing_links-0-source": str(a.pk),
            "outgoing_links-0-target": str(b.pk),
            "outgoing_links-0-link_type": "cites",
            "outgoing_links-0-strength": "0.8",
            "outgoing_links-0-metadata": "{}",
        }
    )
    response = curator_client.post(change_url(a), form)
    # Then the link is updated
    assert response.status_code == 302
    assert Link.objects.get().strength == 0.8


def test_neighbourhood_lists_memories_within_two_hops(curator_client: Client, make_memory: Any) -> None:
    a, b, c, d = (make_memory({"content": name}, coord=str(i)) for i, name in enumerate("abcd"))
    link_upserted(a, b)
    link_upserted(c, b, "mentions")
    link_upserted(c, d)
    response = curator_client.get(change_url(a))
    rows = [(row.depth, row.memory.pk) for row in response.context["neighbourhood"].rows]
    assert rows == [(1, b.pk), (2, c.pk)]
    assert f'href="{change_url(c)}"' in response.content.decode()


def test_change_page_query_count_is_pinned(
    curator_client: Client, make_memory: Any, django_assert_num_queries: Any
) -> None:
    # Given an indexed memory with links in and out, and similar memories in the vector store
    memory = make_memory({"content": "hub"}, coord="0")
    for index in range(1, 6):
        other = make_memory({"content": f"spoke {index}"}, coord=str(index))
        link_upserted(memory, other)
        link_upserted(other, memory, "back")
    assert memories_index(ids=list(Memory.objects.values_list("pk", flat=True))).indexed == 6
    curator_client.get(change_url(memory))
    # When the page is opened: session, user, memory, user and group permissions, the two inlines
    # (ends joined), the similar memories, the neighbourhood's two levels and its memories, and
    # one page of versions (with the version before the oldest shown, for its diff).
    with django_assert_num_queries(12):
        response = curator_client.get(change_url(memory))
    # Then nothing is fetched per link, per similar memory or per neighbour
    assert response.status_code == 200
    assert len(response.context["similar"].items) == 5
    assert len(response.context["neighbourhood"].rows) == 5
    assert len(response.context["versions"].rows) == 1


def test_similar_memories_are_listed_with_links_to_their_pages(curator_client: Client, make_memory: Any) -> None:
    # Given indexed memories, two about boats, one about cake, one in another namespace
    memory = make_memory({"content": "Sailing boats in the harbour at dawn"})
    boat = make_memory({"content": "A sailing boat moored in the harbour"})
    cake = make_memory({"content": "Chocolate cake recipe with cream"})
    elsewhere = make_memory({"content": "Sailing boats in the harbour at dawn"}, namespace="other")
    memories_index(ids=[memory.pk, boat.pk, cake.pk, elsewhere.pk])
    # When the memory's page is opened
    response = curator_client.get(change_url(memory))
    # Then the others of its namespace are listed, nearest first, each linked, never itself
    similar = response.context["similar"]
    assert similar.error is None
    assert [item.pk for item, _ in similar.items] == [boat.pk, cake.pk]
    assert similar.items[0][1] > similar.items[1][1]
    assert f'href="{change_url(boat)}"' in response.content.decode()


def test_change_page_renders_and_saves_with_the_vector_store_down(
    curator_client: Client, make_memory: Any, qdrant_down: Any
) -> None:
    # Given a memory, and Qdrant unreachable
    memory = make_memory({"content": "offline"})
    # When its page is opened, it renders and says why there are no similar memories
    response = curator_client.get(change_url(memory))
    assert response.status_code == 200
    assert response.context["similar"].items == []
    assert response.context["similar"].error.startswith("Vector store unavailable")
    assert b"Vector store unavailable" in response.content
    # And an edit is still saved (the vector is left for `reindex --dirty`)
    response = curator_client.post(change_url(memory), change_form(memory, payload='{"content": "still saved"}'))
    assert response.status_code == 302
    assert Memory.objects.get(pk=memory.pk).text == "still saved"


def test_a_curators_edit_and_delete_are_recorded_as_the_admin_user(curator_client: Client, make_memory: Any) -> None:
    from django.urls import reverse

    from memories.models import MemoryVersion

    memory = make_memory({"content": "old words"})

    curator_client.post(change_url(memory), change_form(memory, payload='{"content": "new words"}'))
    curator_client.post(reverse("admin:memories_memory_delete", args=[memory.pk]), {"post": "yes"})

    assert list(
        MemoryVersion.objects.filter(memory_id=memory.pk).order_by("version").values_list("event", "actor", "changed")
    )[1:] == [
        ("updated", "admin:curator", ["payload", "text"]),
        (
            "deleted",
            "admin:curator",
            ["coord", "namespace", "memory_type", "payload", "text", "metadata", "importance", "pinned", "expires_at"],
        ),
    ]
