"""Export and import of memories, their links and their history as JSON Lines.

One JSON object per line: a header, every memory (oldest first per tenant), every bare
coordinate node (a coordinate that was linked before any memory was stored there: `"type":
"node"`, no payload), every link, then every version of the history (deleted memories'
tombstones included), per memory oldest first. A version already present (same memory id and
number) is kept as it is on import.
Import is idempotent: a memory whose id or coordinate already exists, and a link whose
(source, target, type) already exists, is left as it is, so re-importing changes nothing and an
interrupted import can simply be run again. Imported memories are `pending` for the vector
index: `manage.py reindex --dirty` embeds them.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from core.errors import InvalidInput, ServiceError
from core.jsonrules import json_float, reject_json_constant
from graph.models import Link
from graph.validation import validate_link_ends, validate_link_metadata, validate_link_type, validate_strength
from memories.columns import EXPORTED_COLUMNS, IMPORTED_COLUMNS, column_list, values_row
from memories.coordinates import parse_coordinate
from memories.models import Memory, MemoryType, MemoryVersion, VectorStatus, VersionEvent
from memories.validation import (
    validate_access_count,
    validate_coordinate,
    validate_importance,
    validate_json_object,
    validate_memory_type,
    validate_moment,
    validate_name,
    validate_pinned,
    validate_text,
)
from memories.values import moment_parse
from portability.errors import PortabilityErrorCode

FORMAT = "soma-memories"
# 2 added `version` records and each memory's `version`; 3 each memory's aging (`pinned`,
# `expires_at`) and access counts (`last_accessed_at`, `access_count`); 4 a last `end` record
# with the number of records before it, so a file cut short (a full disk, a broken pipe, a copy
# stopped halfway) is refused instead of imported as if it were whole. Older files import as
# before: what they lack takes the model's default (not pinned, never expires, never read), and
# they have no end to check.
VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)
FIRST_WITH_END = 4
IMPORT_BATCH = 1000

_MEMORY_FIELDS = EXPORTED_COLUMNS
_MOMENT_FIELDS = ("created_at", "updated_at", "expires_at", "last_accessed_at")
_NODE_FIELDS = ("id", "tenant", "namespace", "coordinate", "created_at")
_LINK_FIELDS = ("tenant", "source_id", "target_id", "link_type", "strength", "metadata", "created_at")
_VERSION_FIELDS = ("memory_id", "tenant", "version", "event", "actor", "at", "changed", "snapshot", "related")


@dataclass
class ImportSummary:
    memories_created: int = 0
    memories_skipped: int = 0
    nodes_created: int = 0
    nodes_skipped: int = 0
    links_created: int = 0
    links_skipped: int = 0
    versions_created: int = 0
    versions_skipped: int = 0
    lines: int = 0
    # With a tenant given: how many records were its, and how many were left out as others'.
    records_of_tenant: int = 0
    records_of_other_tenants: int = 0


class ImportFormatError(InvalidInput):
    def __init__(self, line: int, detail: str) -> None:
        super().__init__(f"line {line}: {detail}", PortabilityErrorCode.INVALID_IMPORT_RECORD)


def export_count(*, tenant: str | None = None) -> int:
    nodes = Memory.with_nodes.all() if tenant is None else Memory.with_nodes.for_tenant(tenant)
    links = Link.objects.all() if tenant is None else Link.objects.for_tenant(tenant)
    versions = MemoryVersion.objects.all() if tenant is None else MemoryVersion.objects.filter(tenant=tenant)
    return nodes.count() + links.count() + versions.count()


def records_export(*, tenant: str | None = None, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    """The header, every memory, every bare node, every link, every version, then the end record
    with how many came between (server-side cursors: memory use stays flat)."""
    yield {"type": "header", "format": FORMAT, "version": VERSION, "tenant": tenant}
    count = 0
    for record in _records(tenant=tenant, chunk_size=chunk_size):
        count += 1
        yield record
    yield {"type": "end", "records": count}


def _records(*, tenant: str | None, chunk_size: int) -> Iterator[dict[str, Any]]:
    memories = Memory.objects.all() if tenant is None else Memory.objects.for_tenant(tenant)
    for row in memories.order_by("tenant", "created_at", "id").values_list(*_MEMORY_FIELDS).iterator(chunk_size):
        record = dict(zip(_MEMORY_FIELDS, row, strict=True))
        record["id"] = str(record["id"])
        for name in _MOMENT_FIELDS:
            record[name] = record[name].isoformat() if record[name] is not None else None
        yield {"type": "memory", **record}
    nodes = Memory.with_nodes.filter(bare_node=True)
    if tenant is not None:
        nodes = nodes.for_tenant(tenant)
    for row in nodes.order_by("tenant", "created_at", "id").values_list(*_NODE_FIELDS).iterator(chunk_size):
        record = dict(zip(_NODE_FIELDS, row, strict=True))
        yield {"type": "node", **record, "id": str(record["id"]), "created_at": record["created_at"].isoformat()}
    links = Link.objects.all() if tenant is None else Link.objects.for_tenant(tenant)
    for row in links.order_by("tenant", "created_at", "id").values_list(*_LINK_FIELDS).iterator(chunk_size):
        record = dict(zip(_LINK_FIELDS, row, strict=True))
        yield {
            "type": "link",
            "tenant": record["tenant"],
            "source": str(record["source_id"]),
            "target": str(record["target_id"]),
            "link_type": record["link_type"],
            "strength": record["strength"],
            "metadata": record["metadata"],
            "created_at": record["created_at"].isoformat(),
        }
    versions = MemoryVersion.objects.all() if tenant is None else MemoryVersion.objects.filter(tenant=tenant)
    ordered = versions.order_by("tenant", "memory_id", "version").values_list(*_VERSION_FIELDS)
    for row in ordered.iterator(chunk_size):
        record = dict(zip(_VERSION_FIELDS, row, strict=True))
        record["memory_id"] = str(record["memory_id"])
        record["at"] = record["at"].isoformat()
        yield {"type": "version", **record}


_RECORD_TYPES = {"header", "memory", "node", "link", "version", "end"}


def needs_end_record(header: Any) -> bool:
    """Whether a file with this first record must end with an end record (format 4 on)."""
    return (
        isinstance(header, dict)
        and header.get("type") == "header"
        and isinstance(header.get("version"), int)
        and header["version"] >= FIRST_WITH_END
    )


def records_parse(lines: Iterable[str | bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The records of an export file, checked whole: it starts with its header, and (version 4 on)
    ends with an end record counting the records before it. A file cut short raises at its end,
    after the records it holds: an import stores those (re-running it with the whole file is safe)."""
    header: dict[str, Any] | None = None
    count, number, ended = 0, 0, False
    for number, line in enumerate(lines, start=1):
        if number == 1 and isinstance(line, str):
            line = line.removeprefix("\ufeff")  # a BOM some editors and Windows tools write
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=reject_json_constant, parse_float=json_float)
        except (ValueError, RecursionError):
            raise ImportFormatError(number, "not a JSON object") from None
        if not isinstance(record, dict) or record.get("type") not in _RECORD_TYPES:
            raise ImportFormatError(number, "expected an object whose type is header, memory, node, link or version")
        if header is None:
            if record["type"] != "header":
                raise ImportFormatError(number, f"not a {FORMAT} export: its first line is the header")
            if record.get("format") != FORMAT or record.get("version") not in READABLE_VERSIONS:
                raise ImportFormatError(number, f"not a {FORMAT} export of version 1 to {VERSION}")
            header = record
            continue
        if ended:
            raise ImportFormatError(number, "a record after the end record")
        if record["type"] == "header":
            raise ImportFormatError(number, "a second header")
        if record["type"] == "end":
            if record.get("records") != count:
                raise ImportFormatError(
                    number, f"the end record counts {record.get('records')!r} records, the file holds {count}"
                )
            ended = True
            continue
        count += 1
        yield number, record
    if header is None:
        raise ImportFormatError(max(number, 1), f"not a {FORMAT} export: the file is empty")
    if needs_end_record(header) and not ended:
        raise ImportFormatError(
            number, f"the file ends after {count} records without its end record: the export was cut short"
        )


def records_import(
    *, records: Iterable[tuple[int, dict[str, Any]]], tenant: str | None = None, dry_run: bool = False
) -> ImportSummary:
    """Store memory and link records, in batches of IMPORT_BATCH, each batch in one transaction.

    A dry run is the same import in one transaction rolled back at its end: its counts are the
    real run's (links without both ends, versions and links already present included)."""
    if not dry_run:
        return _records_store(records=records, tenant=tenant)
    with transaction.atomic():
        summary = _records_store(records=records, tenant=tenant)
        transaction.set_rollback(True)
    return summary


def _records_store(*, records: Iterable[tuple[int, dict[str, Any]]], tenant: str | None) -> ImportSummary:
    summary = ImportSummary()
    memories: list[tuple[Any, ...]] = []
    links: list[tuple[Any, ...]] = []
    versions: list[tuple[Any, ...]] = []
    links_started = False
    for number, record in records:
        summary.lines += 1
        if record["type"] == "header":
            continue
        if tenant is not None:
            if record.get("tenant") != tenant:
                summary.records_of_other_tenants += 1
                continue
            summary.records_of_tenant += 1
        if record["type"] in ("memory", "node"):
            memories.append(_memory_row(number, record) if record["type"] == "memory" else _node_row(number, record))
            if len(memories) >= IMPORT_BATCH:
                _flush_memories(memories, summary)
        elif record["type"] == "version":
            versions.append(_version_row(number, record))
            if len(versions) >= IMPORT_BATCH:
                _flush_versions(versions, summary)
        else:
            if memories:  # links need their ends: memories before them in the file are stored first
                _flush_memories(memories, summary)
            if not links_started:
                links_started = True
                if summary.memories_created or summary.nodes_created:
                    # Without fresh statistics on a just-filled table the planner joins each link
                    # batch by sequential scans (1.5 s per 1,000 links at 100k memories, not 30 ms).
                    with connection.cursor() as cursor:
                        cursor.execute("ANALYZE memories_memory")
            links.append(_link_row(number, record))
            if len(links) >= IMPORT_BATCH:
                _flush_links(links, summary)
    _flush_memories(memories, summary)
    _flush_links(links, summary)
    _flush_versions(versions, summary)
    return summary


@contextlib.contextmanager
def _record_errors(number: int, kind: str) -> Iterator[None]:
    """Any malformed value read inside becomes the import's error for line `number`."""
    try:
        yield
    except ImportFormatError:
        raise
    except ServiceError as exc:
        raise ImportFormatError(number, str(exc.detail)) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ImportFormatError(number, f"bad {kind} record ({exc.__class__.__name__}: {str(exc)[:80]})") from None


def _memory_row(number: int, record: dict[str, Any]) -> tuple[Any, ...]:
    """A memory record checked by the API's rules (memories.validation), as the row to insert."""
    with _record_errors(number, "memory"):
        coordinate = validate_coordinate(record.get("coordinate"))
        created_at = _moment(number, record["created_at"])
        row = {
            "id": uuid.UUID(str(record["id"])),
            "tenant": validate_name(record["tenant"], what="tenant"),
            "namespace": validate_name(record.get("namespace", "default"), what="namespace"),
            "coordinate": list(coordinate.values) if coordinate else None,
            "coord_key": coordinate.key if coordinate else None,
            "memory_type": validate_memory_type(record.get("memory_type", MemoryType.EPISODIC)),
            "payload": json.dumps(validate_json_object(record["payload"], what="payload")),
            # Stored as exported, not derived again: an explicit text and a derived one both stay.
            "text": validate_text(record.get("text", "")) or "",
            "metadata": json.dumps(validate_json_object(record.get("metadata", {}), what="metadata")),
            "importance": validate_importance(record.get("importance", 0.0)),
            "created_at": created_at,
            "updated_at": _moment(number, record.get("updated_at", record["created_at"])),
            "version": _positive_int(record.get("version", 1)),
            "pinned": validate_pinned(record.get("pinned", False)),
            "expires_at": validate_moment(record.get("expires_at"), what="expires_at"),
            "last_accessed_at": validate_moment(record.get("last_accessed_at"), what="last_accessed_at"),
            "access_count": validate_access_count(record.get("access_count", 0)),
            "vector_status": VectorStatus.PENDING,
            "bare_node": False,
        }
    return tuple(row[name] for name in IMPORTED_COLUMNS)


def _node_row(number: int, record: dict[str, Any]) -> tuple[Any, ...]:
    """A bare coordinate node: the row a memory stored there later fills (nothing to embed)."""
    with _record_errors(number, "node"):
        coordinate = parse_coordinate(record["coordinate"])
        created_at = _moment(number, record["created_at"])
        row = {
            "id": uuid.UUID(str(record["id"])),
            "tenant": validate_name(record["tenant"], what="tenant"),
            "namespace": validate_name(record.get("namespace", "default"), what="namespace"),
            "coordinate": list(coordinate.values),
            "coord_key": coordinate.key,
            "memory_type": MemoryType.EPISODIC,
            "payload": "{}",
            "text": "",
            "metadata": "{}",
            "importance": 0.0,
            "created_at": created_at,
            "updated_at": created_at,
            "version": 1,
            "pinned": False,
            "expires_at": None,
            "last_accessed_at": None,
            "access_count": 0,
            "vector_status": VectorStatus.INDEXED,
            "bare_node": True,
        }
    return tuple(row[name] for name in IMPORTED_COLUMNS)


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2_147_483_647:
        raise ValueError("a version is a whole number from 1")
    return value


def _version_row(number: int, record: dict[str, Any]) -> tuple[Any, ...]:
    with _record_errors(number, "version"):
        memory_id = uuid.UUID(str(record["memory_id"]))
        tenant = validate_name(record["tenant"], what="tenant")
        version = _positive_int(record["version"])
        event, actor = record["event"], record["actor"]
        at = _moment(number, record["at"])
        changed, snapshot, related = record.get("changed", []), record["snapshot"], record.get("related", {})
    if event not in VersionEvent.values or not isinstance(actor, str) or not 0 < len(actor) <= 200:
        raise ImportFormatError(number, "a version needs a known event and an actor of 1-200 characters")
    if not isinstance(changed, list) or not all(isinstance(name, str) and len(name) <= 32 for name in changed):
        raise ImportFormatError(number, "changed must be a list of field names")
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("payload"), dict) or not isinstance(related, dict):
        raise ImportFormatError(number, "snapshot must be a memory object and related an object")
    return (memory_id, tenant, version, event, actor, at, changed, json.dumps(snapshot), json.dumps(related))


def _link_row(number: int, record: dict[str, Any]) -> tuple[Any, ...]:
    """A link record checked by the API's rules (graph.validation)."""
    with _record_errors(number, "link"):
        tenant = validate_name(record["tenant"], what="tenant")
        source, target = uuid.UUID(str(record["source"])), uuid.UUID(str(record["target"]))
        validate_link_ends(source, target)
        link_type = validate_link_type(record.get("link_type", "related"))
        strength = validate_strength(record.get("strength", 1.0))
        metadata = validate_link_metadata(record.get("metadata", {}))
        created_at = _moment(number, record["created_at"])
    return (tenant, source, target, link_type, strength, json.dumps(metadata), created_at)


def _moment(number: int, value: Any) -> datetime:
    moment = moment_parse(value)
    if moment is None:
        raise ImportFormatError(number, f"{str(value)[:40]!r} is not an ISO-8601 date-time")
    return moment


# DO NOTHING without a conflict target covers both the primary key and the coordinate: a memory
# present by id or by coordinate is kept as it is.
_MEMORY_SQL = f"""
INSERT INTO memories_memory ({column_list(IMPORTED_COLUMNS)}, vector_model, vector_error)
VALUES {{values}}
ON CONFLICT DO NOTHING
RETURNING id
"""  # noqa: S608
_MEMORY_ROW = values_row(IMPORTED_COLUMNS)[:-1] + ", '', '')"
_BARE = IMPORTED_COLUMNS.index("bare_node")

_VERSION_SQL = """
INSERT INTO memories_memoryversion (memory_id, tenant, version, event, actor, at, changed, snapshot, related)
VALUES {values}
ON CONFLICT DO NOTHING
RETURNING id
"""
_VERSION_ROW = "(%s::uuid, %s, %s, %s, %s, %s::timestamptz, %s::varchar[], %s::jsonb, %s::jsonb)"

# Links whose ends are absent (skipped or filtered out) are dropped rather than failing the batch.
_LINK_SQL = """
INSERT INTO graph_link (tenant, source_id, target_id, link_type, strength, metadata, created_at)
SELECT v.tenant, v.source_id, v.target_id, v.link_type, v.strength, v.metadata, v.created_at
FROM (VALUES {values}) AS v (tenant, source_id, target_id, link_type, strength, metadata, created_at)
JOIN memories_memory s ON s.id = v.source_id AND s.tenant = v.tenant
JOIN memories_memory t ON t.id = v.target_id AND t.tenant = v.tenant
ON CONFLICT DO NOTHING
RETURNING id
"""
_LINK_ROW = "(%s, %s::uuid, %s::uuid, %s, %s::double precision, %s::jsonb, %s::timestamptz)"


def _flush_memories(rows: list[tuple[Any, ...]], summary: ImportSummary) -> None:
    if not rows:
        return
    # Rows present by id are dropped before the INSERT: re-importing a large file then costs one
    # index lookup per row instead of a full insert attempt (generated column, GIN indexes).
    existing = set(Memory.with_nodes.filter(pk__in=[row[0] for row in rows]).values_list("pk", flat=True))
    for bare in (False, True):
        group = [row for row in rows if row[_BARE] is bare]
        fresh = [row for row in group if row[0] not in existing]
        created = _insert(_MEMORY_SQL, _MEMORY_ROW, fresh) if fresh else 0
        if bare:
            summary.nodes_created += created
            summary.nodes_skipped += len(group) - created
        else:
            summary.memories_created += created
            summary.memories_skipped += len(group) - created
    rows.clear()


def _insert(sql: str, row_sql: str, rows: list[tuple[Any, ...]]) -> int:
    """One multi-row INSERT ... RETURNING of `rows`; how many rows it created."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.format(values=", ".join([row_sql] * len(rows))), [value for row in rows for value in row])
        return len(cursor.fetchall())


def _flush_links(rows: list[tuple[Any, ...]], summary: ImportSummary) -> None:
    _flush_inserts(_LINK_SQL, _LINK_ROW, rows, summary, kind="links")


def _flush_versions(rows: list[tuple[Any, ...]], summary: ImportSummary) -> None:
    _flush_inserts(_VERSION_SQL, _VERSION_ROW, rows, summary, kind="versions")


def _flush_inserts(sql: str, row_sql: str, rows: list[tuple[Any, ...]], summary: ImportSummary, *, kind: str) -> None:
    """Insert `rows`, count `<kind>_created` and `<kind>_skipped`, empty `rows`."""
    if not rows:
        return
    created = _insert(sql, row_sql, rows)
    setattr(summary, f"{kind}_created", getattr(summary, f"{kind}_created") + created)
    setattr(summary, f"{kind}_skipped", getattr(summary, f"{kind}_skipped") + len(rows) - created)
    rows.clear()
