"""The `filters` grammar shared by list and search.

`{"user_id": "u1"}` (equals), `{"tags": {"in": ["a", "b"]}}`, `{"score": {"gte": 0.5, "lt": 2}}`
and `{"created_at": {"gte": ISO}}`. A key other than created_at is a dotted path that matches
when the memory's payload or its metadata satisfies the condition.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import CharField, Func, JSONField, Q, Value
from django.db.models.fields.json import DataContains, KeyTransform
from django.db.models.lookups import Exact

from core.constants import RANGE_OPS
from core.errors import InvalidInput
from core.jsonrules import json_float, reject_json_constant, reject_unstorable_strings, unstorable_string
from memories.errors import MemoryErrorCode
from memories.values import moment_parse, number_representable

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
MAX_CONDITIONS = 32
MAX_IN_VALUES = 256
Scalar = str | int | float | bool


@dataclass(frozen=True)
class FilterCondition:
    key: str
    op: str  # "eq" | "in" | "gt" | "gte" | "lt" | "lte"
    value: Any

    @property
    def path(self) -> list[str]:
        return self.key.split(".")


def parse_filters(raw: str | dict[str, Any] | None) -> list[FilterCondition]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw, parse_constant=reject_json_constant, parse_float=json_float)
        except (ValueError, RecursionError) as exc:
            raise _invalid("filters must be a JSON object.") from exc
        try:  # a query string's JSON, which no body parser has read: the body's string rule
            reject_unstorable_strings(raw)
        except ValueError as exc:
            raise _invalid(str(exc)) from exc
    if not isinstance(raw, dict):
        raise _invalid("filters must be a JSON object.")
    if len(raw) > MAX_CONDITIONS:
        raise _invalid(f"filters may have at most {MAX_CONDITIONS} keys.")
    conditions: list[FilterCondition] = []
    for key, spec in raw.items():
        if (
            not isinstance(key, str)
            or not KEY_PATTERN.match(key)
            or ".." in key
            or key.startswith(".")
            or key.endswith(".")
        ):
            raise _invalid(f"filter key {str(key)[:80]!r} must match [A-Za-z0-9_.-] (dotted paths allowed).")
        if key == "created_at":
            conditions.extend(_created_at_conditions(spec))
        elif isinstance(spec, dict):
            conditions.extend(_operator_conditions(key, spec))
        else:
            conditions.append(FilterCondition(key, "eq", _scalar(key, spec)))
    return conditions


def _operator_conditions(key: str, spec: dict[str, Any]) -> list[FilterCondition]:
    if not spec:
        raise _invalid(f"filter {key!r} has no operator.")
    conditions = []
    for op, value in spec.items():
        if op == "eq":
            conditions.append(FilterCondition(key, "eq", _scalar(key, value)))
        elif op == "in":
            if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
                raise _invalid(f"filter {key!r}: 'in' takes a non-empty list of at most {MAX_IN_VALUES} values.")
            values = [_scalar(key, item) for item in value]
            if not all(isinstance(item, str) for item in values) and not all(
                isinstance(item, int) and not isinstance(item, bool) for item in values
            ):
                raise _invalid(f"filter {key!r}: 'in' values must be all strings or all integers.")
            conditions.append(FilterCondition(key, "in", values))
        elif op in RANGE_OPS:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise _invalid(f"filter {key!r}: {op!r} takes a number.")
            _check_number(key, value)
            conditions.append(FilterCondition(key, op, value))
        else:
            raise _invalid(f"filter {key!r}: unknown operator {str(op)[:40]!r} (use eq, in, gt, gte, lt, lte).")
    return conditions


def _created_at_conditions(spec: Any) -> list[FilterCondition]:
    if not isinstance(spec, dict) or not spec:
        raise _invalid('filter \'created_at\' takes an object such as {"gte": "2025-01-01T00:00:00Z"}.')
    conditions = []
    for op, value in spec.items():
        if op not in RANGE_OPS:
            raise _invalid(f"filter 'created_at': unknown operator {str(op)[:40]!r} (use gt, gte, lt, lte).")
        moment = moment_parse(value)
        if moment is None:
            raise _invalid(
                f"filter 'created_at': {str(value)[:80]!r} is not an ISO-8601 date-time (ASCII, a real date and"
                " time, an offset under 24 h, years 1 to 9999 in UTC)."
            )
        conditions.append(FilterCondition("created_at", op, moment))
    return conditions


def _scalar(key: str, value: Any) -> Scalar:
    if isinstance(value, str) and unstorable_string(value):
        # PostgreSQL cannot compare against NUL or unpaired surrogates: a 400, not a 500.
        raise _invalid(f"filter {key!r}: strings may not contain NUL characters or unpaired surrogates.")
    if isinstance(value, str | int | float | bool) and value is not None:
        _check_number(key, value)
        return value
    raise _invalid(f"filter {key!r}: values must be strings, numbers or booleans.")


def _check_number(key: str, value: Scalar) -> None:
    # One rule for numbers everywhere (memories.values): list and search both refuse what a
    # double cannot hold, where they used to disagree (list compared it, search failed).
    if not number_representable(value):
        raise _invalid(f"filter {key!r}: numbers must be finite and within the range of a double.")


def _invalid(detail: str) -> InvalidInput:
    return InvalidInput(detail, MemoryErrorCode.INVALID_FILTER)


def conditions_to_q(conditions: list[FilterCondition]) -> Q:
    """The same conditions as a Django filter over Memory (payload OR metadata per key)."""
    combined = Q()
    for condition in conditions:
        if condition.key == "created_at":
            combined &= Q(**{f"created_at__{condition.op}": condition.value})
            continue
        combined &= _json_q("payload", condition) | _json_q("metadata", condition)
    return combined


def _json_q(field: str, condition: FilterCondition) -> Q:
    # Built from expressions, never from "payload__<key>" kwargs: a user key such as "in" or
    # "contains" must stay a JSON key and never become a lookup.
    expression: Any = field
    for part in condition.path:
        expression = KeyTransform(part, expression)
    if condition.op in ("eq", "in"):
        # Containment (@>) so that a list value matches when any element does, as Qdrant's
        # match conditions do: {"tags": "a"} finds {"tags": ["a", "b"]}.
        values = condition.value if condition.op == "in" else [condition.value]
        matches = Q()
        for item in values:
            matches |= Q(DataContains(expression, Value(item, output_field=JSONField())))
        return matches
    value = Value(condition.value, output_field=JSONField())
    # jsonb orders strings above numbers; only numbers may satisfy a range, as in Qdrant.
    is_number = Exact(Func(expression, function="jsonb_typeof", output_field=CharField()), "number")
    return Q(is_number) & Q(expression.get_lookup(condition.op)(expression, value))


def created_ts(moment: datetime) -> float:
    return moment.timestamp()
