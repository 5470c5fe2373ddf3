"""The link services called directly (the HTTP layer is tested in test_api.py), and the one
validation path for a link (graph.validation): a bad value is refused with the same message by
the API's upsert, the admin's Link.clean and the import, and nothing is written."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from core.errors import ServiceError
from graph.errors import GraphErrorCode
from graph.models import Link
from graph.selectors.nodes import MemoryRef
from graph.services import link_delete, link_upsert
from portability.services import ImportFormatError, records_export, records_import
from tests_support.database import locked_in_turn
from tests_support.factories import MemoryFactory

pytestmark = pytest.mark.django_db

BAD_VALUES = [
    pytest.param("link_type", "has space", GraphErrorCode.INVALID_LINK_TYPE, id="link-type-space"),
    pytest.param("link_type", "x" * 65, GraphErrorCode.INVALID_LINK_TYPE, id="link-type-long"),
    pytest.param("strength", math.inf, GraphErrorCode.INVALID_STRENGTH, id="strength-inf"),
    pytest.param("metadata", [1, 2], GraphErrorCode.INVALID_METADATA, id="metadata-not-object"),
]


@pytest.mark.parametrize(("field", "value", "code"), BAD_VALUES)
def test_every_path_refuses_a_bad_link_alike_and_writes_nothing(field: str, value: Any, code: str) -> None:
    source, target = MemoryFactory(tenant="acme"), MemoryFactory(tenant="acme")
    kept = link_upsert(tenant="acme", source=MemoryRef(id=source.pk), target=MemoryRef(id=target.pk)).link
    ends = {"tenant": "acme", "source": MemoryRef(id=target.pk), "target": MemoryRef(id=source.pk)}
    # The API's upsert
    with pytest.raises(ServiceError) as upserted:
        link_upsert(**ends, **{field: value})
    assert upserted.value.code == code
    detail = upserted.value.detail
    # The admin: Link.clean names the field, with the same message
    with pytest.raises(ValidationError) as cleaned:
        Link(source=target, target=source, **{field: value}).clean()
    assert cleaned.value.message_dict[field] == [detail]
    # The import: the line's error carries it
    (record,) = [r for r in records_export(tenant="acme") if r["type"] == "link"]
    with pytest.raises(ImportFormatError) as imported:
        records_import(records=[(1, {**record, "source": str(target.pk), "target": str(source.pk), field: value})])
    assert imported.value.detail == f"line 1: {detail}"
    assert list(Link.objects.values_list("pk", "link_type", "strength", "metadata")) == [
        (kept.pk, kept.link_type, kept.strength, kept.metadata)
    ]


def test_a_self_link_is_refused_alike() -> None:
    memory = MemoryFactory(tenant="acme")
    with pytest.raises(ServiceError) as upserted:
        link_upsert(tenant="acme", source=MemoryRef(id=memory.pk), target=MemoryRef(id=memory.pk))
    assert upserted.value.code == GraphErrorCode.SELF_LINK
    with pytest.raises(ValidationError) as cleaned:
        Link(source=memory, target=memory).clean()
    assert cleaned.value.message_dict["target"] == [upserted.value.detail]
    assert not Link.objects.exists()


def test_upsert_updates_what_is_given_and_delete_names_the_ends() -> None:
    source, target = MemoryFactory(tenant="acme"), MemoryFactory(tenant="acme")
    ends = {"tenant": "acme", "source": MemoryRef(id=source.pk), "target": MemoryRef(id=target.pk)}
    first = link_upsert(**ends, strength=0.5, metadata={"why": "cited"})
    again = link_upsert(**ends, strength=0.9)
    assert (first.created, again.created, again.link.pk) == (True, False, first.link.pk)
    assert (again.link.strength, again.link.metadata) == (0.9, {"why": "cited"})
    deleted = link_delete(**ends)
    assert (deleted.source.pk, deleted.target.pk, deleted.link_type) == (source.pk, target.pk, "related")
    assert not Link.objects.exists()


# --- locking: a link and the access flush take the ends' locks in one order -------------------


@pytest.mark.django_db(transaction=True)
def test_a_link_locks_its_ends_in_the_memories_lock_order_so_a_batch_replacing_both_never_deadlocks() -> None:
    """A batch replaces memories in coordinate order (MemoryQuerySet.in_lock_order). The link's
    trigger must lock its ends in that order too, here against their ids' order: it then waits
    for the batch at the first end instead of holding the other, and the batch goes on."""
    first = MemoryFactory(tenant="acme", id=uuid.UUID(int=2**128 - 1), coordinate=[1.0])
    second = MemoryFactory(tenant="acme", id=uuid.UUID(int=1), coordinate=[2.0])

    outcome = locked_in_turn(
        [first.pk, second.pk],  # as the batch's upsert locks them: "1.0" before "2.0"
        meanwhile=lambda: link_upsert(tenant="acme", source=MemoryRef(id=second.pk), target=MemoryRef(id=first.pk)),
    )

    assert "error" not in outcome, outcome
    assert outcome["result"].created is True
    assert Link.objects.filter(source=second, target=first).count() == 1
