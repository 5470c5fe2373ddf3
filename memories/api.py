from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from pydantic import ValidationError as PydanticValidationError

from memories import aging, selectors, services
from memories.access import memory_access_record
from memories.errors import MemoryErrorCode, NotFound, Unprocessable
from memories.filters import parse_filters
from memories.schemas import (
    NAME_REGEX,
    BatchIn,
    BatchOut,
    ErrorOut,
    ForgetIn,
    ForgetOut,
    MemoryCreatedOut,
    MemoryDeletedOut,
    MemoryEnvelopeOut,
    MemoryIn,
    MemoryListOut,
    MemoryPatchIn,
    MemoryTypeLiteral,
)
from soma_project.auth import request_tenant

router = Router(tags=["memories"])

ERRORS: dict[int, Any] = dict.fromkeys((400, 401, 403, 404, 413, 422, 429, 503), ErrorOut)


def draft_from(body: MemoryIn) -> services.MemoryDraft:
    return services.MemoryDraft(
        payload=body.payload,
        coord=body.coord,
        memory_type=body.memory_type,
        namespace=body.namespace,
        text=body.text,
        metadata=body.metadata,
        importance=body.importance,
        pinned=body.pinned,
        expires_at=body.expires_at,
        ttl_seconds=body.ttl_seconds,
    )


@router.post("", response={200: MemoryCreatedOut, **ERRORS})
def create_memory(request: HttpRequest, body: MemoryIn) -> dict[str, Any]:
    """200 whether new or replaced (the earlier service's clients assert 200); `created` tells which."""
    memory, created = services.memory_upsert(tenant=request_tenant(request), draft=draft_from(body))
    return {
        "memory": memory,
        "coord": memory.coord_key,
        "memory_type": memory.memory_type,
        "created": created,
        "duplicate_of": None,
    }


@router.post("/batch", response={200: BatchOut, **ERRORS})
def create_batch(request: HttpRequest, body: BatchIn) -> dict[str, Any]:
    drafts = []
    for index, item in enumerate(body.memories):
        try:
            drafts.append(draft_from(MemoryIn.model_validate(item)))
        except PydanticValidationError as exc:
            errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            raise Unprocessable(
                [{"index": index, "detail": errors, "code": "validation_error"}], MemoryErrorCode.BATCH_ITEM_INVALID
            ) from None
    results = services.memory_batch_upsert(tenant=request_tenant(request), drafts=drafts)
    created_ids = {r.memory_id for r in results if r.created}
    return {
        "created": len(created_ids),
        "updated": len({r.memory_id for r in results} - created_ids),
        "memories": [{"id": r.memory_id, "coord": r.coord} for r in results],
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
    memory = services.memory_update(memory=memory, **changes)
    return {"memory": memory}


@router.delete("/{ref}", response={200: MemoryDeletedOut, **ERRORS})
def delete_memory(request: HttpRequest, ref: str, query: Query[RefQuery]) -> dict[str, Any]:
    """Idempotent, as the earlier service: a memory that is not there is 200 `deleted: false`."""
    lookup = selectors.memory_ref_lookup(ref=ref, namespace=query.namespace)  # a malformed ref is still a 400
    try:
        memory = selectors.memory_get(tenant=request_tenant(request), ref=ref, namespace=query.namespace)
    except NotFound:
        return {"deleted": False, "id": lookup.get("pk"), "coord": lookup.get("coord_key")}
    deleted = services.memory_delete(memory=memory)
    return {"deleted": deleted, "id": memory.id, "coord": memory.coord_key}
