"""Admin helpers every app's console pages share: a changelist paginator that does not count a
large table row by row, and a list filter whose choices come from a cheap, cached query."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

from core.db import table_row_estimate

# Below this an exact count(*) is cheap, and small tables (and tests) get exact numbers.
EXACT_COUNT_BELOW = 20_000


class EstimatedCountPaginator(Paginator):
    """The unfiltered changelist counts with the planner's estimate: count(*) reads every row.

    Filtered and searched lists keep the exact count, which their WHERE clause keeps bounded.
    A subclass names its `table`, and may say which condition of its default manager is no
    filter of the curator's (`unfiltered_where`).
    """

    table: str

    def unfiltered_where(self) -> Any:
        return None

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and (not query.where or query.where == self.unfiltered_where()):
            estimate = table_row_estimate(self.table)
            if estimate is not None and estimate >= EXACT_COUNT_BELOW:
                return estimate
        return super().count


class CachedChoicesFilter(admin.SimpleListFilter):
    """A filter on one column: `class TenantFilter(MyChoices, field="tenant")` filters by
    `?tenant=` and is titled "tenant" (underscores read as spaces)."""

    field: str

    def __init_subclass__(cls, field: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if field is not None:
            cls.field = field
            cls.parameter_name = field
            cls.title = field.replace("_", " ")

    def choices_for(self, field: str) -> list[str]:
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        choices = self.choices_for(self.field)
        selected = self.value()
        # A value typed into the URL (or beyond the cap) still shows as the active choice.
        if selected and selected not in choices:
            choices = [*choices, selected]
        return [(choice, choice) for choice in choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset
