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
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Q, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from core.errors import InvalidInput, NotFound
from memories.coordinates import looks_like_coordinate, parse_coordinate
from memories.errors import MemoryErrorCode
from memories.filters import FilterCondition, conditions_to_q
from memories.models import Memory, MemoryQuerySet, MemoryType, VectorStatus
from memories.values import moment_parse


def memory_get(*, tenant: str, ref: str, namespace: str | None = None, include_expired: bool = False) -> Memory:
    """`ref` is a UUID or a coordinate; coordinates are looked up in `namespace` (default "default").
    An expired memory is not found (as if deleted) unless `include_expired`."""
    queryset = Memory.objects.all() if include_expired else Memory.objects.visible()
    return memory_resolve(tenant=tenant, ref=ref, namespace=namespace, queryset=queryset)


def memories_by_ids(*, tenant: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Memory]:
    """The tenant's memories among `ids`, by id, in one query: the search hot path.

    One SQL statement with an array parameter, written once: 0.69 ms for 10 ids against
    0.89 ms for `filter(tenant=..., pk__in=ids)`, which Django compiles again on every call.
    The tenant is checked again here: an id from the vector store is never trusted alone, and
    an expired memory is left out like a deleted one (the engine does not know expiry).
    Each memory also carries `row_version` (see `memory_row_versions`).
    """
    params = [tenant, list(ids), timezone.now()]
    return {memory.pk: memory for memory in Memory.objects.raw(_by_ids_sql(), params)}


def memory_row_versions(*, tenant: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The version of each of the tenant's rows among `ids`, and no entry for a deleted (or
    expired) row. Any UPDATE, by anyone (the ORM, raw SQL, another process), changes it. One
    narrow query."""
    with connection.cursor() as cursor:
        cursor.execute(_versions_sql(), [tenant, list(ids), timezone.now()])
        return dict(cursor.fetchall())


def memory_ranking_columns(*, tenant: str, ids: Sequence[str]) -> list[tuple[str, float, float | None, float, str]]:
    """(id, created_at, last_accessed_at, importance, row version) of the tenant's visible
    memories among `ids` (canonical UUID text), the times as epoch seconds: what re-ranking
    reads of a candidate pool, in one narrow query of text and numbers (no object to build)."""
    with connection.cursor() as cursor:
        cursor.execute(_ranking_sql(), [tenant, list(ids), timezone.now()])
        return cursor.fetchall()


@functools.cache
def _ranking_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(Memory._meta.db_table)
    column = functools.partial("{}.{}".format, table)
    columns = (
        f"{column(quote('id'))}::text, extract(epoch from {column(quote('created_at'))})::float8, "
        f"extract(epoch from {column(quote('last_accessed_at'))})::float8, {column(quote('importance'))}"
    )
    version = _ROW_VERSION.format(table=table)
    return f"SELECT {columns}, {version} FROM {table} WHERE {_by_ids_where()}"  # noqa: S608


# A row version: `xmin`, the transaction that wrote it, and `ctid`, where that tuple lies. Every
# UPDATE writes a new tuple: another transaction gives it another xmin, the same transaction
# (which keeps its xmin) another ctid; a slot freed by VACUUM is only reused by a later writer.
_ROW_VERSION = "{table}.xmin::text || '/' || {table}.ctid::text"


def _loaded_columns(table: str) -> str:
    """`t."id", t."tenant", ...`: every column a loaded Memory gets. search_document (the tsvector)
    is left out: raw() defers the columns it is not given."""
    quote = connection.ops.quote_name
    names = [field.column for field in Memory._meta.concrete_fields if field.name != "search_document"]
    return ", ".join(f"{table}.{quote(name)}" for name in names if name)


@functools.cache
def _by_ids_sql() -> str:
    table = connection.ops.quote_name(Memory._meta.db_table)
    columns = _loaded_columns(table)
    # Only quoted names from the model's own meta are spliced in; the values are bound parameters.
    version = _ROW_VERSION.format(table=table)
    return f"SELECT {columns}, {version} AS row_version FROM {table} WHERE {_by_ids_where()}"  # noqa: S608


@functools.cache
def _versions_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(Memory._meta.db_table)
    return f"SELECT {table}.{quote('id')}, {_ROW_VERSION.format(table=table)} FROM {table} WHERE {_by_ids_where()}"  # noqa: S608


def _by_ids_where() -> str:
    """The tenant's visible rows among the ids of an array parameter (UUIDs, or their text),
    found by primary key.

    The tenant is compared as `tenant || ''`, which no index covers, so that the ids are the
    only index condition. Given `tenant = %s`, PostgreSQL 18 may instead skip-scan the listing
    index (tenant, -created_at, -id) over the whole tenant: where the table has no statistics
    yet (a store just loaded in bulk, before autovacuum's ANALYZE) it did, and 50 ids took
    7.7 ms instead of 0.3 ms (bench/bench_aging.py). The tenant is still checked on every row.
    """
    quote = connection.ops.quote_name
    table = quote(Memory._meta.db_table)
    expires = f"{table}.{quote('expires_at')}"
    return (
        f"({table}.{quote('tenant')} || '') = %s AND {table}.{quote('id')} = ANY(%s::uuid[]) "
        f"AND ({expires} IS NULL OR {expires} > %s)"
    )


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
    include_expired: bool = False,
) -> MemoryPage:
    """Newest first, keyset-paginated on (created_at, id): concurrent inserts never shift a page."""
    queryset = Memory.objects.in_namespace(tenant, namespace)
    if not include_expired:
        queryset = queryset.visible()
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
    """What stats show: expired memories count as deleted."""
    queryset = Memory.objects.visible() if tenant is None else Memory.objects.for_tenant(tenant).visible()
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
    has one, among the namespace's memories that have one, turns of one seq in the order they
    were created; otherwise the order they were created in ((created_at, id), as the listing). Namespaces are the conversations: a memory's context
    never comes from another namespace or tenant.
    """
    if turns < 1 or not memories:
        return {}
    context: dict[uuid.UUID, list[Memory]] = {memory.pk: [] for memory in memories}
    rows = Memory.objects.raw(_context_sql(), {"tenant": tenant, "ids": list(context), "turns": turns})
    for row in sorted(rows, key=_context_order):
        context[row.hit_id].append(row)  # type: ignore[attr-defined]
    return context


def _context_order(row: Any) -> tuple[Any, ...]:
    # Each hit's turns before it, then after it, each side in conversation order (the SQL's).
    return (row.hit_id, row.context_side, row.context_key, row.created_at, row.pk)


@functools.cache
def _context_sql() -> str:
    table = connection.ops.quote_name(Memory._meta.db_table)
    columns = _loaded_columns("m")
    seq = f"(m.metadata ->> '{CONTEXT_SEQ_KEY}')::float8"
    has_seq = f"jsonb_typeof(m.metadata -> '{CONTEXT_SEQ_KEY}') = 'number'"
    created = "extract(epoch FROM m.created_at)"
    same_scope = (
        "m.tenant = h.tenant AND m.namespace = h.namespace AND m.id <> h.id AND NOT m.bare_node"
        " AND (m.expires_at IS NULL OR m.expires_at > now())"
    )
    branches = [
        # (side, ordering key, condition, order): the turns before come first, nearest last.
        # Turns that share the hit's seq sit beside it, in creation order: (seq, created_at, id)
        # is a total order, as the listing's (created_at, id) is.
        (
            "-1",
            seq,
            f"h.seq IS NOT NULL AND {has_seq} AND ({seq}, m.created_at, m.id) < (h.seq, h.created_at, h.id)",
            f"{seq} DESC, m.created_at DESC, m.id DESC",
        ),
        (
            "1",
            seq,
            f"h.seq IS NOT NULL AND {has_seq} AND ({seq}, m.created_at, m.id) > (h.seq, h.created_at, h.id)",
            f"{seq} ASC, m.created_at ASC, m.id ASC",
        ),
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


@dataclass(frozen=True)
class ForgetPolicy:
    """What a forget run removes: memories created over `max_age_days` ago, or not read nor
    returned by search for `max_inactive_days` (never accessed: since created), and everything
    past the `keep_top_n` best by importance, then recency (the later of creation and last
    access), then id. Any one of the rules is enough; pinned memories are never candidates."""

    max_age_days: float | None = None
    max_inactive_days: float | None = None
    keep_top_n: int | None = None

    def __post_init__(self) -> None:
        if self.max_age_days is None and self.max_inactive_days is None and self.keep_top_n is None:
            raise InvalidInput(
                "Give at least one of max_age_days, max_inactive_days, keep_top_n.",
                MemoryErrorCode.INVALID_FORGET_POLICY,
            )
        for name in ("max_age_days", "max_inactive_days", "keep_top_n"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value >= 0):
                raise InvalidInput(f"{name} must be 0 or more.", MemoryErrorCode.INVALID_FORGET_POLICY)


def memories_forget_candidates(
    *,
    tenant: str,
    policy: ForgetPolicy,
    now: datetime,
    namespace: str = "default",
    memory_type: str | None = None,
    conditions: Sequence[FilterCondition] = (),
) -> MemoryQuerySet:
    """The memories a forget run with `policy` at `now` removes, oldest first (then by id).
    Expired memories are not among them: they are already gone to every reader (the purge)."""
    scope = Memory.objects.in_namespace(tenant, namespace).visible(now).filter(pinned=False)
    if memory_type:
        scope = scope.filter(memory_type=memory_type)
    if conditions:
        scope = scope.filter(conditions_to_q(list(conditions)))
    scope = scope.annotate(last_active=Greatest("created_at", Coalesce("last_accessed_at", "created_at")))
    rule = Q(pk__in=[])
    if policy.max_age_days is not None and (cutoff := _days_before(now, policy.max_age_days)) is not None:
        rule |= Q(created_at__lt=cutoff)
    if policy.max_inactive_days is not None and (cutoff := _days_before(now, policy.max_inactive_days)) is not None:
        rule |= Q(last_active__lt=cutoff)
    if policy.keep_top_n is not None:
        kept = scope.order_by("-importance", "-last_active", "-id").values("pk")[: policy.keep_top_n]
        rule |= ~Q(pk__in=Subquery(kept))
    return scope.filter(rule).order_by("created_at", "id")


def _days_before(now: datetime, days: float) -> datetime | None:
    """`now` minus `days`; None where that is before the year 1 (no memory is that old)."""
    try:
        return now - timedelta(days=days)
    except OverflowError:
        return None
