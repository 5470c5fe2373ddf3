"""memories.columns names every column of a memory row: a field added to Memory fails here until
the writers and the export format have been told what to do with it."""

from __future__ import annotations

from memories.columns import (
    EXPORTED_COLUMNS,
    GENERATED_COLUMNS,
    IMPORTED_COLUMNS,
    INDEXED_COLUMNS,
    MEMORY_COLUMNS,
    NOT_EXPORTED,
    REPLACED_COLUMNS,
    WRITTEN_COLUMNS,
)
from memories.models import Memory


def test_every_concrete_field_of_memory_is_a_column_in_the_models_order() -> None:
    fields = [field.attname for field in Memory._meta.concrete_fields]

    assert list(MEMORY_COLUMNS) == [name for name in fields if name not in GENERATED_COLUMNS]
    assert set(GENERATED_COLUMNS) == {field.attname for field in Memory._meta.concrete_fields if field.generated}


def test_every_column_is_exported_or_says_why_not() -> None:
    assert set(EXPORTED_COLUMNS) | set(NOT_EXPORTED) == set(MEMORY_COLUMNS)
    assert not set(EXPORTED_COLUMNS) & set(NOT_EXPORTED)


def test_the_writers_name_only_columns() -> None:
    for columns in (WRITTEN_COLUMNS, REPLACED_COLUMNS, IMPORTED_COLUMNS, INDEXED_COLUMNS):
        assert set(columns) <= set(MEMORY_COLUMNS)
        assert len(set(columns)) == len(columns)
    assert set(REPLACED_COLUMNS) < set(WRITTEN_COLUMNS)
