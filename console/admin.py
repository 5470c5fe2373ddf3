"""The curators' admin for memories. It only translates: writes go through memories.services, like the API."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils import timezone

from console import history_views
from console.changelist import EXCERPT_CHARS, MemoryChangeList, memories_matching
from console.exports import memory_export_lines
from console.forget import forget_view
from console.forms import MemoryAddForm, MemoryChangeForm
from console.history_selectors import memory_versions_panel
from console.inlines import MemoryIncomingLinkInline, MemoryOutgoingLinkInline
from console.list_filters import NamespaceFilter, TenantFilter
from console.pagination import MemoryPaginator
from console.selectors import memory_neighbourhood
from console.vector_ops import memories_reembed, similar_memories
from console.views import curator_actor, reindex_dirty_view
from graph.services import link_save
from memories.models import Memory
from memories.services.create import MemoryDraft, memory_upsert
from memories.services.delete import memory_delete
from memories.services.update import memory_update


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
    paginator = MemoryPaginator
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
        return memories_matching(queryset, search_term), False

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
                actor=curator_actor(request),
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
            stored, created = memory_upsert(tenant=data["tenant"], draft=draft, actor=curator_actor(request))
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
        memory_delete(memory=obj, actor=curator_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Memory]) -> None:
        # One by one through the service: each delete sends post_delete, which removes the vector.
        with transaction.atomic():
            for memory in queryset.defer(None):
                memory_delete(memory=memory, actor=curator_actor(request))

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
            context["neighbourhood"] = memory_neighbourhood(memory=obj)
            context["versions"] = memory_versions_panel(tenant=obj.tenant, memory_id=obj.pk)
            context["can_restore"] = self.has_change_permission(request, obj)
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

    # --- the index panel's reindex button, forget by policy

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "reindex-dirty/",
                self.admin_site.admin_view(self.reindex_dirty_view),
                name="memories_memory_reindex_dirty",
            ),
            path("forget/", self.admin_site.admin_view(self.forget_view), name="memories_memory_forget"),
            path(
                "recently-deleted/",
                self.admin_site.admin_view(self.recently_deleted_view),
                name="memories_memory_recently_deleted",
            ),
            path(
                "recently-deleted/restore/",
                self.admin_site.admin_view(self.restore_removed_view),
                name="memories_memory_restore_removed",
            ),
            path(
                "<path:object_id>/versions/",
                self.admin_site.admin_view(self.versions_view),
                name="memories_memory_versions",
            ),
            path(
                "<path:object_id>/restore-version/",
                self.admin_site.admin_view(self.restore_version_view),
                name="memories_memory_restore_version",
            ),
        ]
        return extra + super().get_urls()

    def reindex_dirty_view(self, request: HttpRequest) -> HttpResponse:
        return reindex_dirty_view(self, request)

    def forget_view(self, request: HttpRequest) -> HttpResponse:
        return forget_view(self, request)

    # --- history: versions, restore, recently deleted

    def versions_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return history_views.versions_view(self, request, object_id)

    def restore_version_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return history_views.restore_version_view(self, request, object_id)

    def recently_deleted_view(self, request: HttpRequest) -> HttpResponse:
        return history_views.recently_deleted_view(self, request)

    def restore_removed_view(self, request: HttpRequest) -> HttpResponse:
        return history_views.restore_removed_view(self, request)
