from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from core.errors import ErrorCode, InvalidInput, NotFound, Unprocessable, error_responses
from core.jsonrules import StrictJsonParser
from core.tenancy import NAME_REGEX, request_actor, request_tenant
from memories import aging, history_selectors, history_services, selectors
from memories.access import memory_access_record
from memories.errors import MemoryErrorCode
from memories.filters import parse_filters
from memories.idempotency import (
    IDEMPOTENCY_HEADER,
    idempotency_claim,
    idempotency_store,
    request_fingerprint,
    validate_idempotency_key,
)
from memories.schemas import (
    BatchIn,
    BatchOut,
    ForgetIn,
    ForgetOut,
    HistoryOut,
    MemoryCreatedOut,
    MemoryDeletedOut,
    MemoryEnvelopeOut,
    MemoryIn,
    MemoryListOut,
    MemoryPatchIn,
    MemoryTypeLiteral,
    RestoreIn,
    RestoreOut,
)
from memories.services.create import MemoryDraft, memory_batch_upsert, memory_create
from memories.services.delete import memory_delete
from memories.services.update import memory_update

router = Router(tags=["memories"])

ERRORS = error_responses(400, 401, 403, 404, 409, 413, 422, 429, 503)


# The draft's fields a body gives (all but `id`, which only the import sets).
_DRAFT_FIELDS = tuple(f.name for f in dataclasses.fields(MemoryDraft) if f.name in MemoryIn.model_fields)


def draft_from(body: MemoryIn) -> MemoryDraft:
    return MemoryDraft(**{name: getattr(body, name) for name in _DRAFT_FIELDS})


def idempotent(
    request: HttpRequest, *, body: Schema, out: type[BaseModel], write: Callable[[], tuple[int, Any]]
) -> Status[Any]:
    """Run `write` once per Idempotency-Key: a retry with the same body gets the first answer
    (rendered by `out`) and writes nothing; another body under the key is a 409."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return Status(*write())
    validate_idempotency_key(key)
    tenant = request_tenant(request)
    fingerprint = request_fingerprint(path=request.path, body=body.model_dump(mode="json"))
    with transaction.atomic():
        replay = idempotency_claim(tenant=tenant, key=key, request_hash=fingerprint)
        if replay is not None:
            return Status(replay.status_code, replay.response)
        status, result = write()
        rendered = out.model_validate(result).model_dump(mode="json")
        idempotency_store(tenant=tenant, key=key, status_code=status, response=rendered)
    return Status(status, rendered)


@router.post("", response={200: MemoryCreatedOut, **ERRORS})
def create_memory(request: HttpRequest, body: MemoryIn) -> Status[Any]:
    """200 whether new or replaced (the earlier service's clients assert 200); `created` tells which."""

    def write() -> tuple[int, dict[str, Any]]:
        stored = memory_create(tenant=request_tenant(request), draft=draft_from(body), actor=request_actor(request))
        memory = stored.memory
        result = {
            "memory": memory,
            "coord": memory.coord_key,
            "memory_type": memory.memory_type,
            "created": stored.created,
            "duplicate_of": stored.duplicate_of,
        }
        return 200, result

    return idempotent(request, body=body, out=MemoryCreatedOut, write=write)


@router.post("/batch", response={200: BatchOut, **ERRORS})
def create_batch(request: HttpRequest, body: BatchIn) -> Status[Any]:
    return idempotent(request, body=body, out=BatchOut, write=lambda: (200, _batch(request, body)))


def _batch(request: HttpRequest, body: BatchIn) -> dict[str, Any]:
    drafts = []
    for index, item in enumerate(body.memories):
        try:
            drafts.append(draft_from(MemoryIn.model_validate(item)))
        except PydanticValidationError as exc:
            errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            raise Unprocessable(
                [{"index": index, "detail": errors, "code": ErrorCode.VALIDATION_ERROR}],
                MemoryErrorCode.BATCH_ITEM_INVALID,
            ) from None
    results = memory_batch_upsert(tenant=request_tenant(request), drafts=drafts, actor=request_actor(request))
    created_ids = {r.memory_id for r in results if r.created}
    written = {r.memory_id for r in results if r.duplicate_of is None}
    return {
        "created": len(created_ids),
        "updated": len(written - created_ids),
        "duplicates": sum(1 for r in results if r.duplicate_of is not None),
        "memories": [{"id": r.memory_id, "coord": r.coord, "duplicate_of": r.duplicate_of} for r in results],
    }


class ListQuery(Schema):
    namespace: str = Field("default", pattern=NAME_REGEX)
    memory_type: MemoryTypeLiteral | None = None
    filters: str | None = Field(None, max_length=10_000, description='JSON object, e.g. {"user_id": "u1"}')
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=500)
    include_expired: bool = False


@router.get("", response={200: MemoryListOut, **ERRORS})
def list_memories(request: HttpRequest, query: Query[ListQuery]) -> dict[str, Any]:
    page = selectors.memory_list(
        tenant=request_tenant(request),
        namespace=query.namespace,
        memory_type=query.memory_type,
        conditions=parse_filters(query.filters),
        limit=query.limit,
        cursor=query.cursor,
        include_expired=query.include_expired,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/forget", response={200: ForgetOut, **ERRORS})
def forget_memories(request: HttpRequest, body: ForgetIn) -> dict[str, Any]:
    policy = selectors.ForgetPolicy(
        max_age_days=body.max_age_days, max_inactive_days=body.max_inactive_days, keep_top_n=body.keep_top_n
    )
    result = aging.memories_forget(
        tenant=request_tenant(request),
        policy=policy,
        namespace=body.namespace,
        memory_type=body.memory_type,
        conditions=parse_filters(body.filters),
        dry_run=body.dry_run,
        now=body.reference_time,
        actor=request_actor(request),
    )
    return {"dry_run": result.dry_run, "count": result.count, "ids": result.ids}


class RefQuery(Schema):
    namespace: str | None = Field(None, pattern=NAME_REGEX)


class GetQuery(RefQuery):
    include_expired: bool = False


@router.get("/{ref}", response={200: MemoryEnvelopeOut, **ERRORS})
def get_memory(request: HttpRequest, ref: str, query: Query[GetQuery]) -> dict[str, Any]:
    memory = selectors.memory_get(
        tenant=request_tenant(request), ref=ref, namespace=query.namespace, include_expired=query.include_expired
    )
    memory_access_record(ids=[memory.pk])
    return {"memory": memory}


@router.patch("/{ref}", response={200: MemoryEnvelopeOut, **ERRORS})
def patch_memory(request: HttpRequest, ref: str, body: MemoryPatchIn, query: Query[RefQuery]) -> dict[str, Any]:
    memory = selectors.memory_get(tenant=request_tenant(request), ref=ref, namespace=query.namespace)
    changes = body.model_dump(exclude_unset=True)
    memory = memory_update(memory=memory, actor=request_actor(request), **changes)
    return {"memory": memory}


@router.delete("/{ref}", response={200: MemoryDeletedOut, **ERRORS})
def delete_memory(request: HttpRequest, ref: str, query: Query[RefQuery]) -> dict[str, Any]:
    """Idempotent, as the earlier service: a memory that is not there is 200 `deleted: false`."""
    lookup = selectors.memory_ref_lookup(ref=ref, namespace=query.namespace)  # a malformed ref is still a 400
    try:
        memory = selectors.memory_get(tenant=request_tenant(request), ref=ref, namespace=query.namespace)
    except NotFound:
        return {"deleted": False, "id": lookup.get("pk"), "coord": lookup.get("coord_key")}
    deleted = memory_delete(memory=memory, actor=request_actor(request))
    return {"deleted": deleted, "id": memory.id, "coord": memory.coord_key}


class HistoryQuery(Schema):
    namespace: str | None = Field(None, pattern=NAME_REGEX)
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=100)


@router.get("/{ref}/history", response={200: HistoryOut, **ERRORS})
def memory_history(request: HttpRequest, ref: str, query: Query[HistoryQuery]) -> dict[str, Any]:
    page = history_selectors.memory_history(
        tenant=request_tenant(request), ref=ref, namespace=query.namespace, limit=query.limit, cursor=query.cursor
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


_RESTORE_BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": RestoreIn.model_json_schema()}},
    }
}


@router.post("/{memory_id}/restore", response={200: RestoreOut, **ERRORS}, openapi_extra=_RESTORE_BODY)
def restore_memory(request: HttpRequest, memory_id: str) -> dict[str, Any]:
    """The body is optional (`curl -X POST .../restore` restores the default version)."""
    try:
        parsed = uuid.UUID(memory_id)
    except ValueError:
        raise InvalidInput(
            f"{memory_id[:100]!r} is not a memory id (UUID).", MemoryErrorCode.INVALID_REFERENCE
        ) from None
    body = _restore_body(request)
    restored = history_services.memory_restore(
        tenant=request_tenant(request), memory_id=parsed, version=body.version, actor=request_actor(request)
    )
    return {"memory": restored.memory, "restored_version": restored.restored_version}


def _restore_body(request: HttpRequest) -> RestoreIn:
    if not request.body.strip():
        return RestoreIn(version=None)
    try:
        data = StrictJsonParser().parse_body(request)
    except ValueError:
        raise InvalidInput("Request body is not valid JSON.", ErrorCode.INVALID_JSON) from None
    try:
        return RestoreIn.model_validate(data)
    except PydanticValidationError as exc:
        raise NinjaValidationError([dict(error) for error in exc.errors()]) from None
