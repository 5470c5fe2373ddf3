"""Changelist filters whose choices come from a cached selector instead of a DISTINCT per page load."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from console.selectors import memory_filter_choices


class _CachedChoicesFilter(admin.SimpleListFilter):
    field: str

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        choices = memory_filter_choices(field=self.field)
        selected = self.value()
        # A value typed into the URL (or beyond the cap) still shows as the active choice.
        if selected and selected not in choices:
            choices = [*choices, selected]
        return [(choice, choice) for choice in choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


class TenantFilter(_CachedChoicesFilter):
    title = "tenant"
    parameter_name = "tenant"
    field = "tenant"


class NamespaceFilter(_CachedChoicesFilter):
    title = "namespace"
    parameter_name = "namespace"
    field = "namespace"
