"""Admin forms: JSON shown pretty-printed, and every rule the memory services enforce checked up front
(memories.validation, the API's own rules), so a refused value is a form error on the page rather
than a failure halfway through the save."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from core.errors import ServiceError
from memories.models import Memory
from memories.validation import (
    validate_coordinate,
    validate_importance,
    validate_json_object,
    validate_memory_type,
    validate_name,
    validate_text,
)


def _checked(rule: Callable[..., Any], value: Any, **kwargs: Any) -> Any:
    """`rule(value)`, its refusal as the field's error (same message as the API's)."""
    try:
        return rule(value, **kwargs)
    except ServiceError as exc:
        raise ValidationError(str(exc.detail), code=exc.code) from None


class PrettyJSONField(forms.JSONField):
    """JSON in an indented textarea (the form's clean_<field> checks it is an object)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            forms.Textarea(attrs={"rows": 14, "class": "vLargeTextField console-json", "spellcheck": "false"}),
        )
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values and not self.required:
            return {}
        return super().to_python(value)


MIN_JSON_ROWS = 4
MAX_JSON_ROWS = 30
WRAP_CHARS = 90
TEXT_HELP = "The text that is embedded. Clear it to derive it from the payload again."


class MemoryChangeForm(forms.ModelForm):
    payload = PrettyJSONField()
    metadata = PrettyJSONField(required=False)
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}), help_text=TEXT_HELP)
    importance = forms.FloatField()

    class Meta:
        model = Memory
        fields = ["memory_type", "importance", "payload", "metadata", "text"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The textarea fits the document, so a short payload is not lost in a big empty box.
        for name in ("payload", "metadata"):
            if name in self.fields:
                text = str(self[name].value() or "")
                lines = sum(1 + len(line) // WRAP_CHARS for line in text.splitlines()) + 1
                self.fields[name].widget.attrs["rows"] = max(MIN_JSON_ROWS, min(MAX_JSON_ROWS, lines))

    def clean_payload(self) -> dict[str, Any]:
        return _checked(validate_json_object, self.cleaned_data["payload"], what="payload")

    def clean_metadata(self) -> dict[str, Any]:
        return _checked(validate_json_object, self.cleaned_data["metadata"], what="metadata")

    def clean_memory_type(self) -> str:
        return _checked(validate_memory_type, self.cleaned_data["memory_type"])

    def clean_importance(self) -> float:
        return _checked(validate_importance, self.cleaned_data["importance"])

    def clean_text(self) -> str:
        return _checked(validate_text, self.cleaned_data["text"])


class MemoryAddForm(MemoryChangeForm):
    coord = forms.CharField(
        required=False,
        max_length=512,
        label="Coordinate",
        help_text="Optional, e.g. 1.0,2.0,3.0. An existing coordinate in the namespace is replaced.",
    )

    class Meta(MemoryChangeForm.Meta):
        fields = ["tenant", "namespace", "memory_type", "importance", "payload", "metadata", "text"]

    def clean_tenant(self) -> str:
        return _checked(validate_name, self.cleaned_data["tenant"], what="tenant")

    def clean_namespace(self) -> str:
        return _checked(validate_name, self.cleaned_data["namespace"], what="namespace")

    def clean_coord(self) -> str | None:
        raw = self.cleaned_data["coord"].strip()
        coordinate = _checked(validate_coordinate, raw) if raw else None
        return coordinate.key if coordinate else None
