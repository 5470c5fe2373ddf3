"""The Memory change page's link inlines: graph's inlines with the far end shown from the joined row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.db.models import Field, JSONField, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from graph.admin import BARE_NODE_LABEL, LINK_FIELDS, IncomingLinkInline, OutgoingLinkInline
from graph.models import Link
from memories.models import Memory


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
    fields = ["target", "end_memory", *LINK_FIELDS]
    readonly_fields = [*OutgoingLinkInline.readonly_fields, "end_memory"]


class MemoryIncomingLinkInline(_JoinedEndInline, IncomingLinkInline):
    end = "source"
    fields = ["source", "end_memory", *LINK_FIELDS]
    readonly_fields = [*IncomingLinkInline.readonly_fields, "end_memory"]
