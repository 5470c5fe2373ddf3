from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from graph.models import Link
from graph.selectors.nodes import MemoryRef
from graph.services import link_upsert
from memories.columns import EXPORTED_COLUMNS
from memories.coordinates import parse_coordinate
from memories.models import Memory, MemoryVersion
from memories.services.create import MemoryDraft, memory_batch_upsert
from memories.services.delete import memory_delete
from memories.services.update import memory_update

pytestmark = pytest.mark.django_db

# Everything an export carries, aging and access counts included (format 3), and the derived key.
_MEMORY_COLUMNS = (*EXPORTED_COLUMNS, "coord_key")
_VERSION_COLUMNS = ("memory_id", "tenant", "version", "event", "actor", "at", "changed", "snapshot", "related")


def _snapshot() -> tuple[list[tuple[Any, ...]], ...]:
    memories = sorted(Memory.objects.values_list(*_MEMORY_COLUMNS), key=lambda row: str(row[0]))
    links = sorted(
        Link.objects.values_list("tenant", "source_id", "target_id", "link_type", "strength", "metadata", "created_at"),
        key=lambda row: (str(row[1]), str(row[2]), row[3]),
    )
    versions = sorted(MemoryVersion.objects.values_list(*_VERSION_COLUMNS), key=lambda row: (str(row[0]), row[2]))
    return memories, links, versions


_LATER = datetime(2999, 1, 1, tzinfo=UTC)
_READ_AT = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)


@pytest.fixture
def store() -> dict[str, list[Any]]:
    results = {}
    for tenant in ("acme", "globex"):
        drafts = [
            MemoryDraft(
                payload={"content": f"{tenant} memory {i}", "n": i, "uni": "café ✓ 日本"}, coord=f"{i},0.1,{i / 3}"
            )
            for i in range(30)
        ]
        drafts += [
            MemoryDraft(
                payload={"fact": f"{tenant} fact {i}"},
                memory_type="semantic",
                namespace="facts",
                text=f"explicit {i}",
                metadata={"source": "test", "score": i / 7},
                importance=i / 10,
                pinned=i % 2 == 0,
                expires_at=_LATER if i % 3 == 0 else None,
            )
            for i in range(10)
        ]
        results[tenant] = memory_batch_upsert(tenant=tenant, drafts=drafts)
        ids = [result.memory_id for result in results[tenant]]
        # a history beyond "created": an update, and a deleted memory whose tombstone travels too
        memory_update(memory=Memory.objects.get(pk=ids[0]), importance=0.5)
        Memory.objects.filter(pk__in=ids[:5]).update(last_accessed_at=_READ_AT, access_count=7)
        if tenant == "acme":
            gone = memory_batch_upsert(tenant=tenant, drafts=[MemoryDraft(payload={"content": "gone"})])
            memory_delete(memory=Memory.objects.get(pk=gone[0].memory_id))
        for i in range(10):
            Link.objects.create(tenant=tenant, source_id=ids[i], target_id=ids[i + 1], link_type="next", strength=i / 3)
            Link.objects.create(
                tenant=tenant, source_id=ids[i], target_id=ids[30 + i], link_type="about", metadata={"i": i}
            )
    return results


def _export(tmp_path: Path, *args: str) -> Path:
    path = tmp_path / "export.jsonl"
    call_command("export_memories", "-o", str(path), "--no-progress", *args, stderr=io.StringIO())
    return path


def _import(path: Path, *args: str) -> str:
    err = io.StringIO()
    call_command("import_memories", "--input", str(path), "--no-progress", *args, stderr=err)
    return err.getvalue()


def test_round_trip_recreates_the_store_exactly(store: dict[str, list[Any]], tmp_path: Path) -> None:
    # Given an exported store
    before = _snapshot()
    path = _export(tmp_path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [record["type"] for record in lines].count("memory") == 80
    assert [record["type"] for record in lines].count("link") == 40
    assert [record["type"] for record in lines].count("version") == 84
    assert lines[0]["type"] == "header" and lines[-2]["type"] == "version"
    assert lines[-1] == {"type": "end", "records": len(lines) - 2}

    # When the database is emptied and the file imported
    Memory.objects.all().delete()
    MemoryVersion.objects.all().delete()
    assert Link.objects.count() == 0
    message = _import(path)

    # Then every memory, link and version is back exactly, and the memories await the vector index
    assert "Imported 80 memories (0 already present) and 40 links" in message
    assert "and 84 versions of their history (0 already present)" in message
    assert _snapshot() == before
    assert set(Memory.objects.values_list("vector_status", flat=True)) == {"pending"}


def test_aging_and_access_counts_round_trip(store: dict[str, list[Any]], tmp_path: Path) -> None:
    # Given memories pinned, expiring and read (format 3 carries all four fields)
    path = _export(tmp_path, "--tenant", "acme")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0]["version"] == 4
    exported = {record["id"]: record for record in records if record["type"] == "memory"}
    aged = Memory.objects.filter(tenant="acme").values_list(
        "id", "pinned", "expires_at", "last_accessed_at", "access_count"
    )
    before = sorted(aged)
    assert {row[1] for row in before} == {True, False} and {row[4] for row in before} == {0, 7}
    assert {row[2] for row in before} == {_LATER, None}
    read = next(row for row in before if row[4] == 7)
    assert exported[str(read[0])]["last_accessed_at"] == _READ_AT.isoformat()

    # When the tenant is emptied and the file imported
    Memory.objects.filter(tenant="acme").delete()
    _import(path)

    # Then the four fields are back exactly
    assert sorted(aged) == before


def test_a_format_2_file_imports_with_the_defaults(store: dict[str, list[Any]], tmp_path: Path) -> None:
    # Given a file as format 2 wrote it: no aging, no access counts
    path = _export(tmp_path, "--tenant", "globex")
    old = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["type"] == "header":
            record["version"] = 2
        for name in ("pinned", "expires_at", "last_accessed_at", "access_count"):
            record.pop(name, None)
        old.append(json.dumps(record))
    path.write_text("\n".join(old) + "\n")
    Memory.objects.filter(tenant="globex").delete()

    message = _import(path)

    # Then every memory is back, not pinned, never expiring, never read
    assert "Imported 40 memories (0 already present)" in message
    rows = Memory.objects.filter(tenant="globex").values_list(
        "pinned", "expires_at", "last_accessed_at", "access_count"
    )
    assert set(rows) == {(False, None, None, 0)}
    assert Memory.objects.filter(tenant="globex").count() == 40


def test_reimport_changes_nothing(store: dict[str, list[Any]], tmp_path: Path) -> None:
    path = _export(tmp_path)
    before = _snapshot()

    message = _import(path)

    assert "Imported 0 memories (80 already present) and 0 links (40 present" in message
    assert _snapshot() == before


def test_a_memory_present_by_coordinate_is_kept(store: dict[str, list[Any]], tmp_path: Path) -> None:
    # Given an export, and then a different memory stored at one of its coordinates
    path = _export(tmp_path, "--tenant", "acme")
    Memory.objects.all().delete()
    (other,) = memory_batch_upsert(tenant="acme", drafts=[MemoryDraft(payload={"content": "newer"}, coord="0,0.1,0")])

    # When the export is imported
    message = _import(path)

    # Then the coordinate keeps its current memory, and the links to the skipped one are dropped
    assert "Imported 39 memories (1 already present)" in message
    assert Memory.objects.get(tenant="acme", coord_key="0.0,0.1,0.0").id == other.memory_id
    assert Link.objects.count() == 18


def test_tenant_filter_exports_and_imports_one_tenant(store: dict[str, list[Any]], tmp_path: Path) -> None:
    path = _export(tmp_path, "--tenant", "globex")
    records = [json.loads(line) for line in path.read_text().splitlines()[1:-1]]
    assert {record["tenant"] for record in records} == {"globex"} and len(records) == 101

    everything = _export(tmp_path)
    Memory.objects.all().delete()
    _import(everything, "--tenant", "acme")
    assert set(Memory.objects.values_list("tenant", flat=True)) == {"acme"}
    assert Memory.objects.count() == 40 and Link.objects.count() == 20


def test_dry_run_writes_nothing(store: dict[str, list[Any]], tmp_path: Path) -> None:
    path = _export(tmp_path)
    Memory.objects.all().delete()

    message = _import(path, "--dry-run")

    assert message.startswith("Would import 80 memories")
    assert Memory.objects.count() == 0 and Link.objects.count() == 0


def test_stdout_and_stdin(store: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    call_command("export_memories", "--no-progress", stdout=out, stderr=io.StringIO())
    before = _snapshot()
    Memory.objects.all().delete()

    monkeypatch.setattr(sys, "stdin", io.StringIO(out.getvalue()))
    call_command("import_memories", "--no-progress", stderr=io.StringIO())

    assert _snapshot() == before


_OK = '"2025-01-01T00:00:00+00:00"'
_MEMORY_LINE = (
    '{{"type": "memory", "id": "7d4f3c8e-0000-4000-8000-000000000000", "tenant": "t", "payload": {payload}, '
    '"importance": {importance}, "created_at": {created}}}'
)


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        ("not json", "line 2: not a JSON object"),
        ('{"type": "memory", "id": "x"}', "line 2: bad memory record"),
        (
            '{"type": "memory", "id": "7d4f3c8e-0000-4000-8000-000000000000", "tenant": "a b", "payload": {}, '
            '"created_at": "2025-01-01T00:00:00+00:00"}',
            "line 2: tenant must be",
        ),
        (
            '{"type": "link", "tenant": "t", "source": "7d4f3c8e-0000-4000-8000-000000000000", '
            '"target": "7d4f3c8e-0000-4000-8000-000000000000", "created_at": "2025-01-01T00:00:00+00:00"}',
            "line 2: A memory cannot link to itself.",
        ),
        (
            '{"type": "header", "format": "other", "version": 1}',
            "line 2: a second header",
        ),
        # The API's input rules (memories.values, memories.validation, graph.validation) hold for imports too
        (
            _MEMORY_LINE.format(payload="{}", importance="0", created='"2025-02-30T00:00:00+00:00"'),
            "line 2: '2025-02-30",
        ),
        (
            _MEMORY_LINE.format(payload="{}", importance="0", created='"2025-01-01T00:00:00+24:00"'),
            "line 2: '2025-01-01",
        ),
        (
            _MEMORY_LINE.format(payload='{"n": ' + "9" * 401 + "}", importance="0", created=_OK),
            "line 2: payload: numbers must be finite",
        ),
        (
            _MEMORY_LINE.format(payload="{}", importance='"0.5"', created=_OK),
            "line 2: importance must be a number between 0 and 1.",
        ),
        (
            _MEMORY_LINE.format(payload="{}", importance="true", created=_OK),
            "line 2: importance must be a number between 0 and 1.",
        ),
        (_MEMORY_LINE.format(payload="[1]", importance="0", created=_OK), "line 2: payload must be a JSON object."),
        (
            _MEMORY_LINE.format(payload="{}", importance="0", created=_OK)[:-1] + ', "pinned": "yes"}',
            "line 2: pinned must be",
        ),
        (
            _MEMORY_LINE.format(payload="{}", importance="0", created=_OK)[:-1] + ', "access_count": -1}',
            "line 2: access_count must be a whole number from 0.",
        ),
        (
            _MEMORY_LINE.format(payload="{}", importance="0", created=_OK)[:-1] + ', "expires_at": "soon"}',
            "line 2: expires_at: 'soon' is not an ISO-8601 date-time.",
        ),
        (
            '{"type": "node", "id": "7d4f3c8e-0000-4000-8000-000000000000", "tenant": "t", "coordinate": "1,2", '
            '"created_at": "2025-13-01T00:00:00"}',
            "line 2: '2025-13-01",
        ),
        (
            '{"type": "link", "tenant": "t", "source": "7d4f3c8e-0000-4000-8000-000000000000", '
            '"target": "7d4f3c8e-0000-4000-8000-000000000001", "strength": "2", "created_at": ' + _OK + "}",
            "line 2: strength must be a finite number.",
        ),
    ],
)
def test_a_bad_line_stops_the_import_with_its_number(tmp_path: Path, line: str, detail: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"type": "header", "format": "soma-memories", "version": 1}\n' + line + "\n")

    with pytest.raises(CommandError, match=detail):
        _import(path)

    assert Memory.objects.count() == 0


def test_coordinate_nodes_and_their_links_round_trip(tmp_path: Path) -> None:
    # Given co-recalled coordinates linked before anything was stored, then a memory at one of them
    for source, target in (("1,2,3", "4,5,6"), ("1,2,3", "7,8,9"), ("4,5,6", "7,8,9")):
        link_upsert(
            tenant="brain",
            source=MemoryRef(coord_key=parse_coordinate(source).key),
            target=MemoryRef(coord_key=parse_coordinate(target).key),
            link_type="co_recalled",
            strength=0.5,
        )
    memory_batch_upsert(tenant="brain", drafts=[MemoryDraft(payload={"content": "middle"}, coord="4,5,6")])
    nodes = sorted(Memory.with_nodes.values_list("id", "tenant", "namespace", "coord_key", "bare_node", "created_at"))
    before = _snapshot()
    path = _export(tmp_path)
    types = [json.loads(line)["type"] for line in path.read_text().splitlines()]
    assert types == ["header", "memory", "node", "node", "link", "link", "link", "version", "end"]

    # When the database is emptied and the file imported
    Memory.with_nodes.all().delete()
    message = _import(path)

    # Then the memory, the two bare nodes (same ids) and the three links are back exactly
    assert "Imported 1 memories (0 already present), 2 coordinate nodes (0 already present) and 3 links" in message
    assert _snapshot() == before
    assert (
        sorted(Memory.with_nodes.values_list("id", "tenant", "namespace", "coord_key", "bare_node", "created_at"))
        == nodes
    )
    assert Memory.objects.count() == 1
    # And importing it again changes nothing
    assert "0 coordinate nodes (2 already present) and 0 links (3 present" in _import(path)


# --- what an operator gets wrong: every mistake is one line and a non-zero exit, never a traceback ---


def test_a_file_cut_short_is_refused(
    store: dict[str, list[Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _export(tmp_path).read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:50]) + "\n")  # as a full disk or a stopped copy leaves it: whole lines

    Memory.objects.all().delete()
    with pytest.raises(CommandError, match="the export was cut short; nothing was stored"):
        _import(cut, "--dry-run")
    assert Memory.objects.count() == 0
    with pytest.raises(CommandError, match="the export was cut short; nothing was stored"):
        _import(cut)  # its last line is no end record: refused before anything is read into the store
    assert Memory.objects.count() == 0
    monkeypatch.setattr(sys, "stdin", cut.open(encoding="utf-8"))  # standard input: found out at its end
    with pytest.raises(CommandError, match="without its end record: the export was cut short"):
        call_command("import_memories", "--no-progress", stderr=io.StringIO())

    _import(tmp_path / "export.jsonl")
    assert Memory.objects.count() == 80


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("", "the file is empty"),
        ('{"type": "memory"}\n', "its first line is the header"),
        ('{"type": "header", "format": "soma-memories", "version": 4}\n{"type": "end", "records": 3}\n', "counts 3"),
        (
            '{"type": "header", "format": "soma-memories", "version": 4}\n{"type": "end", "records": 0}\n'
            '{"type": "end", "records": 0}\n',
            "after the end record",
        ),
    ],
)
def test_a_file_that_is_no_whole_export_is_refused(tmp_path: Path, content: str, detail: str) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text(content)

    with pytest.raises(CommandError, match=detail):
        _import(path)


def test_a_bom_is_read_past_and_a_binary_file_is_refused_in_one_line(
    store: dict[str, list[Any]], tmp_path: Path
) -> None:
    exported = _export(tmp_path, "--tenant", "globex").read_text()
    with_bom = tmp_path / "bom.jsonl"
    with_bom.write_text("\ufeff" + exported.replace("\n", "\r\n"), newline="")
    Memory.objects.filter(tenant="globex").delete()
    assert "Would import 40 memories (0 already present)" in _import(with_bom, "--dry-run")

    gzipped = tmp_path / "export.jsonl.gz"
    gzipped.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(128, 256)))
    with pytest.raises(CommandError, match=r"line 1 is not UTF-8 text.*gunzip it first"):
        _import(gzipped)


def test_a_dry_run_counts_what_the_real_run_would_do(store: dict[str, list[Any]], tmp_path: Path) -> None:
    path = _export(tmp_path)
    # Everything is present: the dry run finds that out by doing the import and rolling it back
    message = _import(path, "--dry-run")
    assert "Would import 0 memories (80 already present) and 0 links (40 present or without both ends)" in message
    assert "0 versions of their history (84 already present)" in message
    assert "reindex" not in message


def test_file_and_argument_mistakes_are_one_line_errors(store: dict[str, list[Any]], tmp_path: Path) -> None:
    def fails(command: str, *args: str) -> str:
        with pytest.raises(CommandError) as refused:
            call_command(command, "--no-progress", *args, stderr=io.StringIO(), stdout=io.StringIO())
        return str(refused.value)

    assert "cannot read" in fails("import_memories", "-i", str(tmp_path / "missing.jsonl"))
    assert "cannot read" in fails("import_memories", "-i", str(tmp_path))
    assert "cannot write in" in fails("export_memories", "-o", str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert "is not a file name" in fails("export_memories", "-o", str(tmp_path))
    for size in ("0", "-1", "99999999999999999999"):
        assert "--chunk-size must be from 1 to" in fails(
            "export_memories", "-o", str(tmp_path / "x.jsonl"), "--chunk-size", size
        )
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary left behind


def test_a_failed_export_leaves_no_file_that_looks_like_a_backup(
    store: dict[str, list[Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portability.management.commands import export_memories

    def failing(**kwargs: Any) -> Any:
        yield {"type": "header", "format": "soma-memories", "version": 4, "tenant": None}
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_memories, "records_export", failing)
    target = tmp_path / "backup.jsonl"
    with pytest.raises(CommandError, match="No space left on device; nothing was written"):
        call_command("export_memories", "-o", str(target), "--no-progress", stderr=io.StringIO())
    assert list(tmp_path.iterdir()) == []


def test_importing_a_tenant_the_file_does_not_hold_says_so(store: dict[str, list[Any]], tmp_path: Path) -> None:
    path = _export(tmp_path, "--tenant", "globex")

    message = _import(path, "--tenant", "acme")

    assert "The file holds no record of tenant 'acme' (101 of other tenants were left out)." in message
