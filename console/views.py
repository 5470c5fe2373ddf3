"""The console's own pages beyond the change forms; each checks its permission, then calls a service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from console.selectors import REINDEX_BATCH, memory_dirty_count, memory_dirty_ids
from console.vector_ops import memories_reembed

if TYPE_CHECKING:
    from console.admin import MemoryAdmin


def curator_actor(request: HttpRequest) -> str:
    """Who a curator's change is recorded as in the memory's history."""
    return f"admin:{request.user.get_username()}"


def safe_next(request: HttpRequest, default: str) -> str:
    """The form's `next` when it stays on this site, else `default`."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return default
    return target


def reindex_dirty_view(model_admin: MemoryAdmin, request: HttpRequest) -> HttpResponse:
    """The index panel's button: re-embed one batch of the dirty queue, then go back."""
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
    return HttpResponseRedirect(safe_next(request, reverse("admin:index", current_app=model_admin.admin_site.name)))
