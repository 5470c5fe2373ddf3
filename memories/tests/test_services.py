"""The memory services called directly (the HTTP layer is tested in test_api.py), and the one
validation path (memories.validation): a bad value is refused with the same code and message by
create, batch and patch, by the console's form and by the import, and nothing is written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from console.forms import MemoryChangeForm
from core.errors import InvalidInput, Unprocessable
from memories.errors import MemoryErrorCode
from memories.models import Memory, MemoryVersion
from memories.services.create import MemoryDraft, memory_batch_upsert, memory_create
from memories.services.delete import memory_delete
from memories.services.update import memory_update
from portability.services import ImportFormatError, records_export, records_import

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
