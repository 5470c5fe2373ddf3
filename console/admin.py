"""The curators' admin for memories. It only translates: writes go through memories.services, like the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.contrib.postgres.search import SearchQuery
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import BooleanField, Field, JSONField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Left
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import Truncator

from console.exports import memory_export_lines
from console.forget import forget_view
from console.forms import MemoryAddForm, MemoryChangeForm
from console.list_filters import NamespaceFilter, TenantFilter
from console.pagination import EstimatedCountPaginator
from console.selectors import REINDEX_BATCH, memory_dirty_count, memory_dirty_ids
from console.vector_ops import memories_reembed, similar_memories
from graph.admin import BARE_NODE_LABEL, IncomingLinkInline, OutgoingLinkInline
from graph.models import Link
from graph.selectors.neighbors import Neighbor, neighbors_find
from graph.services import link_save
from memories.models import SEARCH_CONFIG, Memory
from memories.services import MemoryDraft, memory_delete, memory_update, memory_upsert

EXCERPT_CHARS = 80
SEARCH_MAX_CHARS = 200
NEIGHBOURHOOD_HOPS = 2
NEIGHBOURHOOD_MAX = 50


class MemoryChangeList(ChangeList):
    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Memory]:
        queryset = super().get_queryset(request, exclude_parameters)
        # A page of rows needs neither the JSON documents nor the full text, only an excerpt.
        return queryset.defer("payload", "metadata", "text", "search_document").annotate(
            text_excerpt=Left("text", EXCERPT_CHARS + 1)
        )


class _NoLookupRawIdWidget(ForeignKeyRawIdWidget):
    """Django's raw-id widget fetches the related row of every inline row to label it: an N+1.
    The inlines below show that label from the row's joined end instead."""

    def label_and_url_for_value(self, value: Any) -> tuple[str, str]:
        return "", ""


class _JoinedEndInline:
    end: str
    formfield_overrides: Mapping[type[Field], Mapping[str, Any]] = {
        JSONField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 30})}
    }

    def get_queryset(self, request: HttpRequest) -> QuerySet[Link]:
        return super().get_queryset(request).select_related(self.end)  # type: ignore[misc]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        kwargs.setdefault("queryset", Memory.with_nodes.all())  # an end may be a bare coordinate node
        if db_field.name == self.end:
            kwargs["widget"] = _NoLookupRawIdWidget(db_field.remote_field, self.admin_site, using=kwargs.get("using"))  # type: ignore[attr-defined]
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    @admin.display(description="memory")
    def end_memory(self, link: Link) -> str:
        end_id = getattr(link, f"{self.end}_id")
        if end_id is None:
            return "-"
        memory = getattr(link, self.end)
        if memory.bare_node:
            return f"{memory.coord_key} ({BARE_NODE_LABEL})"
        url = reverse("admin:memories_memory_change", args=[end_id])
        return format_html('<a href="{}">{}</a> {}', url, str(memory), Truncator(memory.text).chars(60))


class MemoryOutgoingLinkInline(_JoinedEndInline, OutgoingLinkInline):
    end = "target"
    fields = ["target", "end_memory", *[f for f in OutgoingLinkInline.fields if f != "target"]]
    readonly_fields = [*OutgoingLinkInline.readonly_fields, "end_memory"]


class MemoryIncomingLinkInline(_JoinedEndInline, IncomingLinkInline):
    end = "source"
    fields = ["source", "end_memory", *[f for f in IncomingLinkInline.fields if f != "source"]]
    readonly_fields = [*IncomingLinkInline.readonly_fields, "end_memory"]


def _actor(request: HttpRequest) -> str:
    """Who a curator's change is recorded as in the memory's history."""
    return f"admin:{request.user.get_username()}"


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    list_display = [
        "coordinate_key",
        "memory_type",
        "tenant",
        "namespace",
        "excerpt",
        "importance",
        "vector_status",
        "created_at",
    ]
    list_display_links = ["coordinate_key"]
    list_filter = [
        TenantFilter,
        NamespaceFilter,
        "memory_type",
        "vector_status",
        ("created_at", admin.DateFieldListFilter),
    ]
    sortable_by = ["memory_type", "tenant", "namespace", "importance", "vector_status", "created_at"]
    search_fields = ["text"]  # shows the search box; get_search_results does the real work
    search_help_text = "Full-text search of the embedded text, and a substring search of the payload JSON."
    list_per_page = 50
    list_max_show_all = 500
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    actions = ["reembed_selected", "export_jsonl"]
    change_form_template = "admin/memories/memory/change_form.html"
    inlines = [MemoryOutgoingLinkInline, MemoryIncomingLinkInline]

    # --- changelist

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return MemoryChangeList

    @admin.display(description="coordinate", ordering="coord_key")
    def coordinate_key(self, obj: Memory) -> str:
        return obj.coord_key or f"{str(obj.pk)[:8]}…"

    @admin.display(description="text")
    def excerpt(self, obj: Memory) -> str:
        text = getattr(obj, "text_excerpt", None)
        if text is None:
            text = obj.text[: EXCERPT_CHARS + 1]
        text = " ".join(text.split())
        return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Memory], search_term: str
    ) -> tuple[QuerySet[Memory], bool]:
        term = search_term.strip()[:SEARCH_MAX_CHARS]
        if not term:
            return queryset, False
        # Both branches have an index: GIN on search_document and a trigram GIN on payload::text
        # (console migration 0002_console_indexes), so a rare word does not scan the table.
        payload_match = RawSQL(
            '"memories_memory"."payload"::text ILIKE %s', [_like_pattern(term)], output_field=BooleanField()
        )
        matches = Q(search_document=SearchQuery(term, config=SEARCH_CONFIG, search_type="websearch")) | Q(payload_match)
        return queryset.filter(matches), False

    # --- change and add pages

    def get_form(self, request: HttpRequest, obj: Memory | None = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = MemoryChangeForm if obj is not None else MemoryAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Memory | None = None) -> Any:
        if obj is None:
            return [
                (None, {"fields": ["tenant", "namespace", "coord", "memory_type", "importance"]}),
                ("Content", {"fields": ["payload", "metadata", "text"]}),
            ]
        return [
            (
                None,
                {
                    "fields": [
                        ("id", "coord_key"),
                        ("tenant", "namespace"),
                        "memory_type",
                        "importance",
                        ("created_at", "updated_at"),
                    ]
                },
            ),
            ("Content", {"fields": ["payload", "metadata", "text"]}),
            ("Vector", {"fields": [("vector_status", "vector_model"), "vector_error"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Memory | None = None) -> Any:
        if obj is None:
            return []
        return [
            "id",
            "coord_key",
            "tenant",
            "namespace",
            "created_at",
            "updated_at",
            "vector_status",
            "vector_model",
            "vector_error",
        ]

    def save_model(self, request: HttpRequest, obj: Memory, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            changed = set(form.changed_data)
            if not changed:
                return
            stored = memory_update(
                memory=obj,
                payload=data["payload"] if "payload" in changed else None,
                metadata=data["metadata"] if "metadata" in changed else None,
                text=data["text"] if "text" in changed else None,
                importance=data["importance"] if "importance" in changed else None,
                memory_type=data["memory_type"] if "memory_type" in changed else None,
                actor=_actor(request),
            )
        else:
            draft = MemoryDraft(
                id=obj.pk,
                payload=data["payload"],
                coord=data.get("coord"),
                memory_type=data["memory_type"],
                namespace=data["namespace"],
                text=data["text"] or None,
                metadata=data["metadata"],
                importance=data["importance"],
            )
            stored, created = memory_upsert(tenant=data["tenant"], draft=draft, actor=_actor(request))
            if not created:
                messages.info(
                    request, f"Coordinate {stored.coord_key} existed in the namespace: that memory was replaced."
                )
        # The admin (its messages, log entry and inlines) goes on with `obj`: make it the stored row.
        for model_field in Memory._meta.concrete_fields:
            if not model_field.generated:
                setattr(obj, model_field.attname, getattr(stored, model_field.attname))
        obj._state.adding = False

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        links = formset.save(commit=False)
        for link in formset.deleted_objects:
            link.delete()
        for link in links:
            link_save(link=link)

    def delete_model(self, request: HttpRequest, obj: Memory) -> None:
        memory_delete(memory=obj, actor=_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Memory]) -> None:
        # One by one through the service: each delete sends post_delete, which removes the vector.
        with transaction.atomic():
            for memory in queryset.defer(None):
                memory_delete(memory=memory, actor=_actor(request))

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Memory | None = None,
    ) -> HttpResponse:
        if obj is not None and not add:
            context["similar"] = similar_memories(memory=obj, limit=10)
            context["neighbourhood"] = _neighbourhood(obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    # --- actions

    @admin.action(description="Re-embed selected memories now", permissions=["change"])
    def reembed_selected(self, request: HttpRequest, queryset: QuerySet[Memory]) -> None:
        summary = memories_reembed(ids=list(queryset.order_by().values_list("pk", flat=True)))
        if summary.failed:
            reasons = "; ".join(summary.errors) or "unknown error"
            self.message_user(
                request, f"Re-embedded {summary.indexed} memories; {summary.failed} failed ({reasons}).", messages.ERROR
            )
        else:
            self.message_user(request, f"Re-embedded {summary.indexed} memories.", messages.SUCCESS)

    @admin.action(description="Export selected memories as JSON Lines", permissions=["view"])
    def export_jsonl(self, request: HttpRequest, queryset: QuerySet[Memory]) -> StreamingHttpResponse:
        response = StreamingHttpResponse(memory_export_lines(queryset), content_type="application/x-ndjson")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="memories-{stamp}.jsonl"'
        return response

    # --- the index panel's reindex button

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "reindex-dirty/",
                self.admin_site.admin_view(self.reindex_dirty_view),
                name="memories_memory_reindex_dirty",
            ),
            path("forget/", self.admin_site.admin_view(self.forget_view), name="memories_memory_forget"),
        ]
        return extra + super().get_urls()

    def reindex_dirty_view(self, request: HttpRequest) -> HttpResponse:
        return _reindex_dirty(self, request)

    def forget_view(self, request: HttpRequest) -> HttpResponse:
        return forget_view(self, request)


def _reindex_dirty(model_admin: MemoryAdmin, request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    ids = memory_dirty_ids(limit=REINDEX_BATCH)
    summary = memories_reembed(ids=ids)
    remaining = memory_dirty_count()
    if not ids:
        model_admin.message_user(request, "No memory needs re-indexing.", messages.SUCCESS)
    else:
        text = (
            f"Re-indexed {summary.indexed} of {len(ids)} dirty memories ({summary.failed} failed); "
            f"{remaining} still pending or failed."
        )
        if summary.failed:
            text += f" Reason: {'; '.join(summary.errors) or 'unknown error'}."
        model_admin.message_user(request, text, messages.ERROR if summary.failed else messages.SUCCESS)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("admin:index", current_app=model_admin.admin_site.name)
    return HttpResponseRedirect(target)


@dataclass
class NeighbourRow:
    memory: Memory
    depth: int
    via: str


@dataclass
class Neighbourhood:
    rows: list[NeighbourRow] = field(default_factory=list)
    truncated: bool = False


def _node_label(node: Memory) -> str:
    return f"{node.coord_key} ({BARE_NODE_LABEL})" if node.bare_node else str(node)


def _neighbourhood(memory: Memory) -> Neighbourhood:
    found: list[Neighbor] = neighbors_find(
        tenant=memory.tenant, start=memory, hops=NEIGHBOURHOOD_HOPS, limit=NEIGHBOURHOOD_MAX + 1, direction="both"
    )
    labels = {memory.pk: "this memory", **{n.id: _node_label(n.node) for n in found}}
    rows = [
        NeighbourRow(
            memory=n.node,
            depth=n.depth,
            via=f"{n.link_type} ({n.strength:g}) with {labels.get(n.via_id, str(n.via_id))}",
        )
        for n in found[:NEIGHBOURHOOD_MAX]
    ]
    return Neighbourhood(rows=rows, truncated=len(found) > NEIGHBOURHOOD_MAX)
