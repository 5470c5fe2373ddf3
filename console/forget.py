"""The admin's "Forget by policy": the same service as POST /memories/forget, previewed first.

The preview is a dry run at a fixed reference time; confirming runs it for real at that same
time, so it forgets exactly the memories the preview counted (unless the store changed meanwhile).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from core.errors import ServiceError
from memories.aging import memories_forget
from memories.models import Memory, MemoryType
from memories.selectors import ForgetPolicy
from memories.validation import validate_name

if TYPE_CHECKING:
    from console.admin import MemoryAdmin

PREVIEW_ROWS = 50


class ForgetForm(forms.Form):
    tenant = forms.CharField(max_length=64, initial="default")
    namespace = forms.CharField(max_length=64, initial="default")
    memory_type = forms.ChoiceField(choices=[("", "any"), *MemoryType.choices], required=False)
    max_age_days = forms.FloatField(min_value=0, required=False, help_text="created more than this many days ago")
    max_inactive_days = forms.FloatField(
        min_value=0, required=False, help_text="neither read nor returned by search for this many days"
    )
    keep_top_n = forms.IntegerField(
        min_value=0, required=False, help_text="keep the N most important (then most recent), forget the rest"
    )
    reference_time = forms.DateTimeField(widget=forms.HiddenInput, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            for name in ("tenant", "namespace"):
                if data.get(name):
                    validate_name(data[name], what=name)
            data["policy"] = ForgetPolicy(
                max_age_days=data.get("max_age_days"),
                max_inactive_days=data.get("max_inactive_days"),
                keep_top_n=data.get("keep_top_n"),
            )
        except ServiceError as exc:
            raise forms.ValidationError(str(exc.detail)) from exc
        return data


def forget_view(model_admin: MemoryAdmin, request: HttpRequest) -> HttpResponse:
    if not model_admin.has_delete_permission(request):
        raise PermissionDenied
    form = ForgetForm(request.POST or None)
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "opts": Memory._meta,
        "title": "Forget memories by policy",
        "form": form,
    }
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        now: datetime = data.get("reference_time") or timezone.now()
        scope = {
            "tenant": data["tenant"],
            "policy": data["policy"],
            "namespace": data["namespace"],
            "memory_type": data["memory_type"] or None,
            "now": now,
        }
        if "confirm" in request.POST:
            result = memories_forget(**scope, dry_run=False, actor=f"admin:{request.user.get_username()}")
            model_admin.message_user(request, f"Forgot {result.count} memories.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:memories_memory_changelist"))
        result = memories_forget(**scope, dry_run=True)
        preview = list(Memory.objects.filter(pk__in=result.ids[:PREVIEW_ROWS]).order_by("created_at", "id"))
        confirm = ForgetForm(initial={**{k: data.get(k) for k in form.fields}, "reference_time": now})
        context |= {"result": result, "preview": preview, "confirm_form": confirm, "reference_time": now}
    return TemplateResponse(request, "admin/memories/memory/forget.html", context)
