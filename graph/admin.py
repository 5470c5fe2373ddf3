"""The Link changelist, and the two inlines the Memory admin (app `console`) shows links with.

Built for a million links: ends are raw ids (no <select> of every memory), the page joins both
ends in its one query, filter choices come from a cached loose index scan, the unfiltered count
is the planner's estimate, and an inline shows a memory's newest links only.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from core.admin import CachedChoicesFilter, EstimatedCountPaginator
from core.errors import InvalidInput
from graph.models import Link
from graph.selectors.links import link_filter_choices
from graph.services import link_save
from memories.coordinates import looks_like_coordinate, parse_coordinate
from memories.models import Memory

INLINE_MAX_ROWS = 50
# What a link inline shows after the far end.
LINK_FIELDS = ["link_type", "strength", "metadata", "created_at"]


class LinkPaginator(EstimatedCountPaginator):
    table = Link._meta.db_table


class _ChoicesFilter(CachedChoicesFilter):
    field: Literal["tenant", "link_type"]

    def choices_for(self, field: str) -> list[str]:
        return link_filter_choices(field=field)  # type: ignore[arg-type]


class LinkTypeFilter(_ChoicesFilter, field="link_type"):
    pass


class LinkTenantFilter(_ChoicesFilter, field="tenant"):
    pass


BARE_NODE_LABEL = "coordinate, no memory stored"


def _end_label(memory: Any) -> str:
    if memory.bare_node:
        return f"{memory.coord_key} ({BARE_NODE_LABEL})"
    return memory.coord_key or str(memory.pk)


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = ["id", "source_label", "target_label", "link_type", "strength", "tenant", "created_at"]
    list_display_links = ["id"]
    list_filter = [LinkTenantFilter, LinkTypeFilter]
    list_select_related = ["source", "target"]
    raw_id_fields = ["source", "target"]
    readonly_fields = ["tenant", "created_at"]
    fields = ["source", "target", "link_type", "strength", "metadata", "tenant", "created_at"]
    search_fields = ["link_type"]  # shows the box; get_search_results decides what a term means
    search_help_text = "A memory id or coordinate (links at either end, stored or not), or an exact link type."
    ordering = ["-id"]
    sortable_by = ["id", "link_type", "strength"]
    list_per_page = 100
    show_full_result_count = False
    paginator = LinkPaginator

    @admin.display(description="source", ordering="source__coord_key")
    def source_label(self, obj: Link) -> str:
        return _end_label(obj.source)

    @admin.display(description="target", ordering="target__coord_key")
    def target_label(self, obj: Link) -> str:
        return _end_label(obj.target)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Link]:
        # The page shows the ends' labels: no payloads, texts or search vectors.
        return (
            super()
            .get_queryset(request)
            .only(
                "id", "tenant", "link_type", "strength", "created_at", "metadata", "source_id", "target_id",
                "source__id", "source__coord_key", "source__bare_node",
                "target__id", "target__coord_key", "target__bare_node",
            )
        )  # fmt: skip

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            memory_id = uuid.UUID(term)
            return queryset.filter(Q(source_id=memory_id) | Q(target_id=memory_id)), False
        except ValueError:
            pass
        if looks_like_coordinate(term):
            try:
                key = parse_coordinate(term).key
            except InvalidInput:
                return queryset.none(), False
            return queryset.filter(Q(source__coord_key=key) | Q(target__coord_key=key)), False
        return queryset.filter(link_type=term), False

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # An end may be a bare coordinate node, which the default manager (memories only) hides.
        kwargs.setdefault("queryset", Memory.with_nodes.all())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Link, form: Any, change: bool) -> None:
        link_save(link=obj)


class _NewestLinksFormSet(BaseInlineFormSet):
    """A hub memory has thousands of links: the inline shows the newest few, the changelist all."""

    def get_queryset(self) -> QuerySet[Link]:
        if not hasattr(self, "_newest"):
            self._newest = super().get_queryset().order_by("-id")[:INLINE_MAX_ROWS]
            self._queryset = self._newest
        return self._newest


class _LinkInline(admin.TabularInline):
    """The links at one end (`fk_name`) of the memory shown; the other end is a raw id, and
    `label` names them. A subclass that names its end gets the rest from it."""

    model = Link
    formset = _NewestLinksFormSet
    extra = 0
    show_change_link = True
    readonly_fields = ["created_at"]
    label = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "fk_name" not in cls.__dict__:  # a subclass of an end's inline (the console's) keeps it
            return
        other = "target" if cls.fk_name == "source" else "source"
        cls.raw_id_fields = [other]
        cls.fields = [other, *LINK_FIELDS]
        cls.verbose_name = f"{cls.label} link"
        cls.verbose_name_plural = f"{cls.label} links (newest {INLINE_MAX_ROWS}; all in the Link list)"


class OutgoingLinkInline(_LinkInline):
    """Links from this memory (its `source` end), newest first."""

    fk_name = "source"
    label = "outgoing"


class IncomingLinkInline(_LinkInline):
    """Links to this memory (its `target` end), newest first."""

    fk_name = "target"
    label = "incoming"
