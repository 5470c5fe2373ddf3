"""The console's history pages: a memory's versions, restoring one, and the recently deleted.

Restores go through memories.history_services.memory_restore, as POST /memories/{id}/restore
does, recorded as the curator (`admin:<username>`). A refused restore changes nothing and says why.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from console.history_selectors import memory_versions_panel, removed_page
from console.views import curator_actor
from core.errors import ServiceError
from memories.history_services import memory_restore
from memories.models import Memory

if TYPE_CHECKING:
    from console.admin import MemoryAdmin

TENANT_MAX_CHARS = 64


def _positive_int(raw: str | None) -> int | None:
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return None
    return int(raw) or None


def _memory_or_404(model_admin: MemoryAdmin, request: HttpRequest, object_id: str) -> Memory:
    memory = model_admin.get_object(request, object_id)
    if memory is None:
        raise Http404("No such memory.")
    return memory


def _restore(model_admin: MemoryAdmin, request: HttpRequest, **target: Any) -> Memory | None:
    """memory_restore as the curator; the refusal (409 coordinate_taken, 404) as an error message."""
    try:
        restored = memory_restore(**target, actor=curator_actor(request))
    except ServiceError as exc:
        model_admin.message_user(request, f"Not restored: {exc.detail} ({exc.code})", messages.ERROR)
        return None
    model_admin.message_user(
        request, f"Restored {restored.memory} from version {restored.restored_version}.", messages.SUCCESS
    )
    return restored.memory


def versions_view(model_admin: MemoryAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """Every kept version of a memory, a page at a time (the change page shows the newest)."""
    memory = _memory_or_404(model_admin, request, object_id)
    if not model_admin.has_view_permission(request, memory):
        raise PermissionDenied
    panel = memory_versions_panel(
        tenant=memory.tenant, memory_id=memory.pk, older_than=_positive_int(request.GET.get("older_than"))
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Memory._meta,
        "original": memory,
        "title": f"Versions of {memory}",
        "versions": panel,
        "can_restore": model_admin.has_change_permission(request, memory),
    }
    return TemplateResponse(request, "admin/memories/memory/versions.html", context)


def restore_version_view(model_admin: MemoryAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    memory = _memory_or_404(model_admin, request, object_id)
    if not model_admin.has_change_permission(request, memory):
        raise PermissionDenied
    version = _positive_int(request.POST.get("version"))
    if version is None:
        model_admin.message_user(request, "Not restored: no version was chosen.", messages.ERROR)
    else:
        _restore(model_admin, request, tenant=memory.tenant, memory_id=memory.pk, version=version)
    return HttpResponseRedirect(reverse("admin:memories_memory_change", args=[memory.pk]))


def recently_deleted_view(model_admin: MemoryAdmin, request: HttpRequest) -> HttpResponse:
    """Memories deleted, expired or forgotten within SOMA_HISTORY_RETENTION_DAYS, newest first."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    tenant = request.GET.get("tenant", "").strip()[:TENANT_MAX_CHARS]
    page = removed_page(tenant=tenant or None, page=_positive_int(request.GET.get("page")) or 1)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Memory._meta,
        "title": "Recently deleted memories",
        "tenant": tenant,
        "page": page,
        "can_restore": model_admin.has_change_permission(request),
        "next_query": urlencode({"tenant": tenant, "page": str(page.page + 1)}),
        "previous_query": urlencode({"tenant": tenant, "page": str(page.page - 1)}),
    }
    return TemplateResponse(request, "admin/memories/memory/recently_deleted.html", context)


def restore_removed_view(model_admin: MemoryAdmin, request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    tenant = request.POST.get("tenant", "")[:TENANT_MAX_CHARS]
    try:
        memory_id = uuid.UUID(request.POST.get("memory_id", ""))
    except ValueError:
        memory_id = None
    restored = None
    if memory_id is None or not tenant:
        model_admin.message_user(request, "Not restored: no memory was chosen.", messages.ERROR)
    else:
        restored = _restore(model_admin, request, tenant=tenant, memory_id=memory_id, version=None)
    if restored is not None:
        return HttpResponseRedirect(reverse("admin:memories_memory_change", args=[restored.pk]))
    listing = reverse("admin:memories_memory_recently_deleted")
    return HttpResponseRedirect(f"{listing}?{urlencode({'tenant': request.POST.get('list_tenant', '')})}")
