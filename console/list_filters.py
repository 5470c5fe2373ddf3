"""Changelist filters whose choices come from a cached selector instead of a DISTINCT per page load."""

from __future__ import annotations

from console.selectors import memory_filter_choices
from core.admin import CachedChoicesFilter


class _CachedChoicesFilter(CachedChoicesFilter):
    def choices_for(self, field: str) -> list[str]:
        return memory_filter_choices(field=field)


class TenantFilter(_CachedChoicesFilter, field="tenant"):
    pass


class NamespaceFilter(_CachedChoicesFilter, field="namespace"):
    pass
