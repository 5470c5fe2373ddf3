"""Reads. Every one of them is scoped to a tenant."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count, Q

from memories.coordinates import looks_like_coordinate, parse_coordinate
from memories.errors import InvalidInput, MemoryErrorCode, NotFound
from memories.filters import FilterCondition, conditions_to_q
from memories.models import Memory, MemoryQuerySet, MemoryType, VectorStatus
from memories.values import moment_parse


def memory_get(*, tenant: str, ref: str, namespace: str | None = None) -> Memory:
    """`ref` is a UUID or a coordinate; coordinates are looked up in `namespace` (default "default")."""
    return memory_resolve(tenant=tenant, ref=ref, namespace=namespace, queryset=Memory.objects.all())


def memories_by_ids(*, tenant: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Memory]:
    """The tenant's memories among `ids`, by id, in one query: the search hot path.

    One SQL statement with an array parameter, written once: 0.69 ms for 10 ids against
    0.89 ms for `filter(tenant=..., pk__in=ids)`, which Django compiles again on every call.
    The tenant is checked again here: an id from the vector store is never trusted alone.
    Each memory also carries `row_version` (see `memory_row_versions`).
    """
    return {memory.pk: memory for memory in Memory.objects.raw(_by_ids_sql(), [tenant, list(ids)])}


def memory_row_versions(*, tenant: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The version of each of the tenant's rows among `ids`, and no entry for a deleted row.
    Any UPDATE, by anyone (the ORM, raw SQL, another process), changes it. One narrow query."""
    with connection.cursor() as cursor:
        cursor.execute(_versions_sql(), [tenant, list(ids)])
        return dict(cursor.fetchall())


# A row version: `xmin`, the transaction that wrote it, and `ctid`, where that tuple lies. Every
# UPDATE writes a new tuple: another transaction gives it another xmin, the same transaction
# (which keeps its xmin) another ctid; a slot freed by VACUUM is only reused by a later writer.
_ROW_VERSION = "{table}.xmin::text || '/' || {table}.ctid::text"


@functools.cache
def _by_ids_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(Memory._meta.db_table)
    # search_document (the tsvector) is left out: raw() defers the columns it is not given.
    names = [field.column for field in Memory._meta.concrete_fields if field.name != "search_document"]
    columns = ", ".join(f"{table}.{quote(name)}" for name in names if name)
    # Only quoted names from the model's own meta are spliced in; the values are bound parameters.
    version = _ROW_VERSION.format(table=table)
    return f"SELECT {columns}, {version} AS row_version FROM {table} WHERE {_by_ids_where()}"  # noqa: S608


@functools.cache
def _versions_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(Memory._meta.db_table)
    return f"SELECT {table}.{quote('id')}, {_ROW_VERSION.format(table=table)} FROM {table} WHERE {_by_ids_where()}"  # noqa: S608


def _by_ids_where() -> str:
    quote = connection.ops.quote_name
    table = quote(Memory._meta.db_table)
    return f"{table}.{quote('tenant')} = %s AND {table}.{quote('id')} = ANY(%s)"


def memory_resolve(*, tenant: str, ref: str, namespace: str | None, queryset: MemoryQuerySet) -> Memory:
    lookup = memory_ref_lookup(ref=ref, namespace=namespace)
    try:
        return queryset.get(tenant=tenant, **lookup)
    except Memory.DoesNotExist:
        raise NotFound(f"Memory {ref[:100]!r} not found.", MemoryErrorCode.MEMORY_NOT_FOUND) from None


def memory_ref_lookup(*, ref: str, namespace: str | None) -> dict[str, object]:
    ref = ref.strip()
    if ref.isascii():  # uuid.UUID() reads any Unicode digit as hex, as int(x, 16) does
        try:
            return {"pk": uuid.UUID(ref)}
        except ValueError:
            pass
    if not looks_like_coordinate(ref):
        raise InvalidInput(
            f"{ref[:100]!r} is neither a memory id (UUID) nor a coordinate such as '1.0,2.0'.",
            MemoryErrorCode.INVALID_REFERENCE,
        )
    return {"namespace": namespace or "default", "coord_key": parse_coordinate(ref).key}


@dataclass
class MemoryPage:
    items: list[Memory]
    next_cursor: str | None


def memory_list(
    *,
    tenant: str,
    namespace: str = "default",
    memory_type: str | None = None,
    conditions: list[FilterCondition] | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> MemoryPage:
    """Newest first, keyset-paginated on (created_at, id): concurrent inserts never shift a page."""
    queryset = Memory.objects.in_namespace(tenant, namespace)
    if memory_type:
        queryset = queryset.filter(memory_type=memory_type)
    if conditions:
        queryset = queryset.filter(conditions_to_q(conditions))
    if cursor:
        created_at, last_id = _decode_cursor(cursor)
        queryset = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=last_id))
    items = list(queryset.order_by("-created_at", "-id")[: limit + 1])
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = _encode_cursor(items[-1])
    return MemoryPage(items=items, next_cursor=next_cursor)


def _encode_cursor(memory: Memory) -> str:
    raw = json.dumps([memory.created_at.isoformat(), str(memory.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_CURSOR_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    # Strict at every step: the URL-safe base64 alphabet in ASCII, then exactly [ISO text, UUID
    # text], the date-time under the one date rule (memories.values).
    invalid = InvalidInput("cursor is not one this API returned.", MemoryErrorCode.INVALID_CURSOR)
    if not _CURSOR_PATTERN.fullmatch(cursor):
        raise invalid
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(decoded, list) and len(decoded) == 2 and all(isinstance(v, str) for v in decoded)):
            raise invalid
        moment, last_id = moment_parse(decoded[0]), uuid.UUID(decoded[1])
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise invalid from None
    if moment is None:
        raise invalid
    return moment, last_id


def memory_counts(*, tenant: str | None = None) -> dict[str, int]:
    queryset = Memory.objects.all() if tenant is None else Memory.objects.for_tenant(tenant)
    counts = queryset.aggregate(
        total=Count("id"),
        episodic=Count("id", filter=Q(memory_type=MemoryType.EPISODIC)),
        semantic=Count("id", filter=Q(memory_type=MemoryType.SEMANTIC)),
        pending=Count("id", filter=~Q(vector_status=VectorStatus.INDEXED)),
        failed=Count("id", filter=Q(vector_status=VectorStatus.FAILED)),
    )
    return {key: int(value or 0) for key, value in counts.items()}


# A memory's place in its conversation: a number under this metadata key (the turn's index).
CONTEXT_SEQ_KEY = "seq"


def memory_context(*, tenant: str, memories: Sequence[Memory], turns: int) -> dict[uuid.UUID, list[Memory]]:
    """Each memory's neighbouring turns in its namespace: up to `turns` before it and `turns`
    after it, in order, itself left out (one query).

    The order is `metadata.seq` (a number: the turn's index in its conversation) when the memory
    has one, among the namespace's memories that have one; otherwise the order they were created
    in ((created_at, id), as the listing). Namespaces are the conversations: a memory's context
    never comes from another namespace or tenant.
    """
    if turns < 1 or not memories:
        return {}
    context: dict[uuid.UUID, list[Memory]] = {memory.pk: [] for memory in memories}
    rows = Memory.objects.raw(_context_sql(), {"tenant": tenant, "ids": list(context), "turns": turns})
    for row in sorted(rows, key=lambda m: (m.hit_id, m.context_side, m.context_key, m.pk)):  # type: ignore[attr-defined]
        context[row.hit_id].append(row)  # type: ignore[attr-defined]
    return context


@functools.cache
def _context_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(Memory._meta.db_table)
    names = [field.column for field in Memory._meta.concrete_fields if field.name != "search_document"]
    columns = ", ".join(f"m.{quote(name)}" for name in names if name)
    seq = f"(m.metadata ->> '{CONTEXT_SEQ_KEY}')::float8"
    has_seq = f"jsonb_typeof(m.metadata -> '{CONTEXT_SEQ_KEY}') = 'number'"
    created = "extract(epoch FROM m.created_at)"
    same_scope = "m.tenant = h.tenant AND m.namespace = h.namespace AND m.id <> h.id"
    branches = [
        # (side, ordering key, condition, order): the turns before come first, nearest last.
        ("-1", seq, f"h.seq IS NOT NULL AND {has_seq} AND {seq} < h.seq", f"{seq} DESC"),
        ("1", seq, f"h.seq IS NOT NULL AND {has_seq} AND {seq} > h.seq", f"{seq} ASC"),
        (
            "-1",
            created,
            "h.seq IS NULL AND (m.created_at, m.id) < (h.created_at, h.id)",
            "m.created_at DESC, m.id DESC",
        ),
        ("1", created, "h.seq IS NULL AND (m.created_at, m.id) > (h.created_at, h.id)", "m.created_at ASC, m.id ASC"),
    ]
    lateral = " UNION ALL ".join(
        f"(SELECT {columns}, {side} AS context_side, {key} AS context_key FROM {table} m"  # noqa: S608
        f" WHERE {same_scope} AND {condition} ORDER BY {order} LIMIT %(turns)s)"
        for side, key, condition, order in branches
    )
    hit_seq = f"CASE WHEN jsonb_typeof(metadata -> '{CONTEXT_SEQ_KEY}') = 'number' THEN (metadata ->> '{CONTEXT_SEQ_KEY}')::float8 END"
    # Only quoted names from the model's own meta and constants are spliced in; values are bound.
    return (
        f"WITH h AS (SELECT id, tenant, namespace, created_at, {hit_seq} AS seq FROM {table}"  # noqa: S608
        " WHERE tenant = %(tenant)s AND id = ANY(%(ids)s::uuid[]))"
        f" SELECT n.*, h.id AS hit_id FROM h CROSS JOIN LATERAL ({lateral}) n"
    )
