from __future__ import annotations

from typing import Any

from django import template

from console.selectors import REINDEX_BATCH, console_summary
from memories.models import Memory

register = template.Library()


@register.inclusion_tag("admin/console/summary_panel.html", takes_context=True)
def console_summary_panel(context: dict[str, Any]) -> dict[str, Any]:
    request = context["request"]
    opts = Memory._meta
    can_view = request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or request.user.has_perm(
        f"{opts.app_label}.change_{opts.model_name}"
    )
    if not can_view:
        return {"visible": False}
    return {
        "visible": True,
        "summary": console_summary(),
        "can_reindex": request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}"),
        "batch": REINDEX_BATCH,
        "csrf_token": context.get("csrf_token"),
        "request": request,
    }
