"""Reads of the console's history pages: a memory's versions with their diffs, and the recently deleted."""

from __future__ import annotations

import difflib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from memories.history_selectors import memories_removed
from memories.models import MemoryVersion

VERSIONS_SHOWN = 10
REMOVED_PER_PAGE = 50
# The parts of a snapshot a curator reads a change in; the other tracked fields show as names only.
DIFFED_FIELDS = ("text", "payload", "metadata")
DIFF_MAX_LINES = 200


@dataclass
class DiffLine:
    kind: str  # "add", "remove", "hunk" or "same"
    text: str


@dataclass
class VersionRow:
    version: MemoryVersion
    diff: list[DiffLine]
    diff_truncated: bool


@dataclass
class VersionsPanel:
    rows: list[VersionRow]
    # The version below which the next (older) page starts; None on the last page.
    older_than: int | None


def _lines(snapshot: dict[str, Any] | None) -> list[str]:
    if snapshot is None:
        return []
    lines: list[str] = []
    for name in DIFFED_FIELDS:
        value = snapshot.get(name)
        rendered = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
        lines.append(f"{name}:")
        lines.extend(f"  {line}" for line in rendered.splitlines())
    return lines


def version_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> tuple[list[DiffLine], bool]:
    """A unified diff of the text, payload and metadata of two snapshots (before None: all added)."""
    lines: list[DiffLine] = []
    for raw in list(difflib.unified_diff(_lines(before), _lines(after), lineterm="", n=2))[2:]:
        kind = {"+": "add", "-": "remove", "@": "hunk"}.get(raw[:1], "same")
        lines.append(DiffLine(kind=kind, text=raw))
    return lines[:DIFF_MAX_LINES], len(lines) > DIFF_MAX_LINES


def memory_versions_panel(
    *, tenant: str, memory_id: uuid.UUID, older_than: int | None = None, limit: int = VERSIONS_SHOWN
) -> VersionsPanel:
    """Up to `limit` versions, newest first, each diffed against the one kept before it: one query
    (one more row than shown, which is both the last row's "before" and the sign of an older page)."""
    queryset = MemoryVersion.objects.filter(tenant=tenant, memory_id=memory_id)
    if older_than is not None:
        queryset = queryset.filter(version__lt=older_than)
    versions = list(queryset.order_by("-version")[: limit + 1])
    rows = []
    for index, version in enumerate(versions[:limit]):
        before = versions[index + 1].snapshot if index + 1 < len(versions) else None
        diff, truncated = version_diff(before, version.snapshot)
        rows.append(VersionRow(version=version, diff=diff, diff_truncated=truncated))
    older = versions[limit - 1].version if len(versions) > limit else None
    return VersionsPanel(rows=rows, older_than=older)


@dataclass
class RemovedPage:
    removals: list[MemoryVersion]
    page: int
    has_next: bool


def removed_page(*, tenant: str | None, page: int = 1, per_page: int = REMOVED_PER_PAGE) -> RemovedPage:
    """A page of the memories removed within retention (no count: the anti-join is not free)."""
    start = (page - 1) * per_page
    removals = list(memories_removed(tenant=tenant)[start : start + per_page + 1])
    return RemovedPage(removals=removals[:per_page], page=page, has_next=len(removals) > per_page)
