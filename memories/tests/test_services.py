"""The memory services called directly (the HTTP layer is tested in test_api.py), and the one
validation path (memories.validation): a bad value is refused with the same code and message by
create, batch and patch, by the console's form and by the import, and nothing is written."""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg
import pytest
from django.db import connection

from console.forms import MemoryChangeForm
from core.errors import InvalidInput, Unprocessable
from memories.errors import MemoryErrorCode
from memories.models import Memory, MemoryVersion
from memories.services.create import MemoryDraft, memory_batch_upsert, memory_create
from memories.services.delete import memory_delete
from memories.services.update import memory_update
from portability.services import ImportFormatError, records_export, records_import
from tests_support.database import blocks_someone, raw_params
from tests_support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

TOO_DEEP: dict[str, Any] = {"a": {}}
for _ in range(40):
    TOO_DEEP = {"a": TOO_DEEP}

# (field, bad value, the code every path refuses it with)
BAD_VALUES = [
    pytest.param("payload", ["not", "an", "object"], MemoryErrorCode.INVALID_PAYLOAD, id="payload-not-object"),
    pytest.param("payload", TOO_DEEP, MemoryErrorCode.INVALID_PAYLOAD, id="payload-too-deep"),
    pytest.param("payload", {"n": 10**400}, MemoryErrorCode.INVALID_PAYLOAD, id="payload-huge-number"),
    pytest.param("metadata", "tags", MemoryErrorCode.INVALID_PAYLOAD, id="metadata-not-object"),
    pytest.param("importance", float("nan"), MemoryErrorCode.INVALID_IMPORTANCE, id="importance-nan"),
    pytest.param("memory_type", "dream", MemoryErrorCode.INVALID_MEMORY_TYPE, id="memory-type-unknown"),
]


def _refusal(call: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call()
    return caught.value


@pytest.fixture
def stored() -> Memory:
    return memory_create(tenant="acme", draft=MemoryDraft(payload={"content": "kept as it is"}, coord="1,2")).memory


def _unchanged(stored: Memory) -> None:
    assert Memory.objects.count() == 1
    again = Memory.objects.get(pk=stored.pk)
    assert (again.payload, again.metadata, again.importance, again.memory_type, again.version) == (
        stored.payload,
        stored.metadata,
        stored.importance,
        stored.memory_type,
        stored.version,
    )
    assert MemoryVersion.objects.filter(memory_id=stored.pk).count() == 1


@pytest.mark.parametrize(("field", "value", "code"), BAD_VALUES)
def test_every_path_refuses_a_bad_value_alike_and_writes_nothing(
    stored: Memory, field: str, value: Any, code: MemoryErrorCode
) -> None:
    base = {"payload": {"content": "new"}}
    # Create
    created = _refusal(lambda: memory_create(tenant="acme", draft=MemoryDraft(**{**base, field: value})))
    assert created.code == code
    detail = created.detail
    # Batch: the same refusal, naming the item, and the good item before it is not stored either
    with pytest.raises(Unprocessable) as batch:
        memory_batch_upsert(
            tenant="acme", drafts=[MemoryDraft(payload={"content": "good"}), MemoryDraft(**{**base, field: value})]
        )
    assert batch.value.code == MemoryErrorCode.BATCH_ITEM_INVALID
    assert batch.value.detail == [{"index": 1, "detail": detail, "code": code}]
    # Patch
    patched = _refusal(lambda: memory_update(memory=stored, **{field: value}))
    assert (patched.code, patched.detail) == (code, detail)
    # The console's form: the field's error, with the same message and code. (Its importance and
    # memory type are a number field and a choice, which Django checks before the rule runs.)
    if field in ("payload", "metadata"):
        form_data = {"payload": '{"content": "x"}', "metadata": "{}", "importance": "0", "memory_type": "episodic"}
        form = MemoryChangeForm(data={**form_data, field: json.dumps(value)}, instance=Memory.objects.get(pk=stored.pk))
        assert not form.is_valid()
        assert [(str(e.message), e.code) for e in form.errors.as_data()[field]] == [(detail, code)]
    # The import: the line's error carries the same message
    (record,) = [r for r in records_export(tenant="acme") if r["type"] == "memory"]
    bad = {**record, "id": "00000000-0000-4000-8000-000000000001", "coordinate": None, field: value}
    with pytest.raises(ImportFormatError) as imported:
        records_import(records=[(1, bad)])
    assert imported.value.detail == f"line 1: {detail}"
    _unchanged(stored)


def test_create_replaces_at_a_coordinate_and_delete_is_idempotent(stored: Memory) -> None:
    again = memory_create(tenant="acme", draft=MemoryDraft(payload={"content": "replaced"}, coord="1.0,2.0"))
    assert (again.memory.pk, again.created, again.memory.text, again.memory.version) == (
        stored.pk,
        False,
        "replaced",
        2,
    )
    other_tenant = memory_create(tenant="other", draft=MemoryDraft(payload={"content": "theirs"}, coord="1,2"))
    assert other_tenant.created and other_tenant.memory.pk != stored.pk
    assert memory_delete(memory=again.memory, actor="test") is True
    assert memory_delete(memory=again.memory, actor="test") is False
    events = list(MemoryVersion.objects.filter(memory_id=stored.pk).order_by("version").values_list("event", "actor"))
    assert events == [("created", "system"), ("updated", "system"), ("deleted", "test")]


# --- locking: a batch takes the rows it replaces in id order -------------------------------------


def test_a_batch_locks_the_rows_it_replaces_in_id_order_so_a_flush_holding_one_never_deadlocks_with_it() -> None:
    """The upsert replaces rows in the batch's own order (by coordinate); the access flush locks
    memories in id order. Two stored memories whose coordinate order is the reverse of their id
    order, a flush holding the lower id: the batch must wait for it without holding the other."""
    first = memory_create(tenant="acme", draft=MemoryDraft(payload={"content": "a"}, coord="1,0")).memory
    second = memory_create(tenant="acme", draft=MemoryDraft(payload={"content": "b"}, coord="2,0")).memory
    # Coordinate order is "1.0,0.0" then "2.0,0.0"; make the first coordinate's id the higher one.
    if first.pk < second.pk:
        Memory.objects.filter(pk=first.pk).update(coord_key="2.0,0.0-swap")
        Memory.objects.filter(pk=second.pk).update(coord_key="1.0,0.0", coordinate=[1.0, 0.0])
        Memory.objects.filter(pk=first.pk).update(coord_key="2.0,0.0", coordinate=[2.0, 0.0])
    low, high = sorted((first, second), key=lambda m: m.pk)
    assert Memory.objects.get(pk=high.pk).coord_key == "1.0,0.0"
    flush = psycopg.connect(**raw_params(), autocommit=False)
    outcome: dict[str, Any] = {}

    def batch() -> None:
        try:
            drafts = [MemoryDraft(payload={"content": f"new {n}"}, coord=f"{n},0") for n in (1, 2)]
            outcome["stored"] = [result.memory_id for result in memory_batch_upsert(tenant="acme", drafts=drafts)]
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connection.close()

    try:
        cursor = flush.cursor()
        cursor.execute("SET lock_timeout = '5s'")
        cursor.execute("SELECT pg_backend_pid()")
        flush_pid = cursor.fetchone()[0]
        cursor.execute("SELECT id FROM memories_memory WHERE id = %s FOR NO KEY UPDATE", [low.pk])
        writer = threading.Thread(target=batch)
        writer.start()
        wait_until(lambda: blocks_someone(flush_pid), timeout=10, what="the batch to wait for the flush's lock")
        # Had the batch replaced "1,0" (the higher id) first, this would wait for it while it
        # waits for us: a deadlock.
        cursor.execute("SELECT id FROM memories_memory WHERE id = %s FOR NO KEY UPDATE", [high.pk])
        flush.commit()
        writer.join(timeout=10)
    finally:
        flush.close()

    assert outcome == {"stored": [high.pk, low.pk]}
    assert sorted(Memory.objects.filter(tenant="acme").values_list("text", flat=True)) == ["new 1", "new 2"]
