"""Admin forms: JSON shown pretty-printed, and every rule the memory services enforce checked up front,
so a refused value is a form error on the page rather than a failure halfway through the save."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.forms.fields import InvalidJSONInput

from memories.coordinates import parse_coordinate
from memories.errors import ServiceError
from memories.models import Memory
from memories.text import json_depth
from memories.validation import validate_name


class PrettyJSONField(forms.JSONField):
    """A JSON object in an indented textarea; anything but an object is refused."""

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

    def validate(self, value: Any) -> None:
        super().validate(value)
        if not isinstance(value, dict):
            raise ValidationError("Enter a JSON object ({...}).", code="not_an_object")
        if json_depth(value) > settings.SOMA_MAX_JSON_DEPTH:
            raise ValidationError(
                f"The JSON is nested deeper than {settings.SOMA_MAX_JSON_DEPTH} levels.", code="too_deep"
            )


MIN_JSON_ROWS = 4
MAX_JSON_ROWS = 30
WRAP_CHARS = 90
IMPORTANCE_VALIDATORS = [MinValueValidator(0.0), MaxValueValidator(1.0)]
TEXT_HELP = "The text that is embedded. Clear it to derive it from the payload again."


class MemoryChangeForm(forms.ModelForm):
    payload = PrettyJSONField()
    metadata = PrettyJSONField(required=False)
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}), help_text=TEXT_HELP)
    importance = forms.FloatField(validators=IMPORTANCE_VALIDATORS)

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


class MemoryAddForm(MemoryChangeForm):
    coord = forms.CharField(
        required=False,
        max_length=512,
        label="Coordinate",
        help_text="Optional, e.g. 1.0,2.0,3.0. An existing coordinate in the namespace is replaced.",
    )

    class Meta(MemoryChangeForm.Meta):
        fields = ["tenant", "namespace", "memory_type", "importance", "payload", "metadata", "text"]

    def _clean_name(self, field: str) -> str:
        value = self.cleaned_data[field]
        try:
            return validate_name(value, what=field)
        except ServiceError as exc:
            raise ValidationError(str(exc.detail), code=exc.code) from None

    def clean_tenant(self) -> str:
        return self._clean_name("tenant")

    def clean_namespace(self) -> str:
        return self._clean_name("namespace")

    def clean_coord(self) -> str | None:
        raw = self.cleaned_data["coord"].strip()
        if not raw:
            return None
        try:
            return parse_coordinate(raw).key
        except ServiceError as exc:
            raise ValidationError(str(exc.detail), code=exc.code) from None
