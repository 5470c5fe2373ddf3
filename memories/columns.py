"""The columns of a memory row (`memories_memory`), defined once.

The raw-SQL writers (the upsert of memories.services.upsert, the import of portability) and the
export format build their column lists, VALUES rows and records from these names, so a field
added to `Memory` has to be placed here, and `memories/tests/test_columns.py` fails until it is.
"""

from __future__ import annotations

from collections.abc import Sequence

# Every stored column in the model's order (which Model.from_db expects), with the SQL type of a
# value in a VALUES list. The generated search_document is left out: no writer gives it.
MEMORY_COLUMNS: dict[str, str] = {
    "id": "uuid",
    "tenant": "varchar",
    "namespace": "varchar",
    "coordinate": "double precision[]",
    "coord_key": "varchar",
    "memory_type": "varchar",
    "payload": "jsonb",
    "text": "text",
    "metadata": "jsonb",
    "importance": "double precision",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "vector_status": "varchar",
    "pinned": "boolean",
    "expires_at": "timestamptz",
    "last_accessed_at": "timestamptz",
    "access_count": "bigint",
    "vector_model": "varchar",
    "vector_error": "varchar",
    "vector_epoch": "bigint",
    "version": "integer",
    "bare_node": "boolean",
}
GENERATED_COLUMNS = ("search_document",)

# What a write gives (the API's create, a batch item): the rows the upsert receives. The rest is
# the service's: the vector state starts pending, the version counts, the access counters move
# on reads only (memories.access), and a replaced memory keeps its created_at.
_IDENTITY = ("id", "tenant", "namespace", "coordinate")
_CONTENT = ("memory_type", "payload", "text", "metadata", "importance", "created_at", "updated_at")
_AGING = ("pinned", "expires_at")
WRITTEN_COLUMNS = (*_IDENTITY, "coord_key", *_CONTENT, *_AGING)
# What a replacement at the same coordinate overwrites (the key, the tenant and created_at stay).
REPLACED_COLUMNS = tuple(
    name for name in WRITTEN_COLUMNS if name not in {"id", "tenant", "namespace", "coord_key", "created_at"}
)

# What an export record of a memory carries (portability), in its order.
EXPORTED_COLUMNS = (*_IDENTITY, *_CONTENT, "version", *_AGING, "last_accessed_at", "access_count")
# And why the others are not exported: every column is one or the other.
NOT_EXPORTED = {
    "coord_key": "derived from the coordinate again on import",
    "vector_status": "an imported memory is pending: `reindex --dirty` embeds it in the target",
    "vector_model": "the target's embedding model indexes it",
    "vector_error": "the target's indexing sets it",
    "vector_epoch": "the target's engine flush window, set when it indexes",
    "bare_node": "bare coordinate nodes are records of their own (`node`)",
}
# What the import writes: the exported columns, the key derived from the coordinate, and the
# row's kind and vector state (a memory is pending, a bare node has nothing to embed).
IMPORTED_COLUMNS = (*_IDENTITY, "coord_key", *EXPORTED_COLUMNS[len(_IDENTITY) :], "vector_status", "bare_node")
# What a vector point is built from (vectors' indexing loads these and no more).
INDEXED_COLUMNS = (
    "id",
    "tenant",
    "namespace",
    "memory_type",
    "payload",
    "metadata",
    "text",
    "created_at",
    "updated_at",
)


def column_list(columns: Sequence[str]) -> str:
    """`a, b, c`: the column list of an INSERT or a CTE."""
    return ", ".join(columns)


def values_row(columns: Sequence[str]) -> str:
    """`(%s::uuid, %s::varchar, ...)`: one typed row of a VALUES list."""
    return "(" + ", ".join(f"%s::{MEMORY_COLUMNS[name]}" for name in columns) + ")"
