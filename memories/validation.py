"""The rules a memory's fields obey, written once.

The API's create, batch and patch (memories.services), the admin's forms (console.forms) and the
import (portability) all check a value here, so a refused value reads the same (code and
message) whichever way it came in. Each function returns the value as it is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from core.errors import InvalidInput
from core.jsonrules import json_depth
from core.tenancy import NAME_PATTERN
from memories.coordinates import Coordinate, parse_coordinate
from memories.errors import MemoryErrorCode
from memories.models import MAX_TTL_SECONDS, MemoryType
from memories.values import moment_parse, number_representable, unrepresentable_number

# PositiveBigIntegerField's upper bound (PostgreSQL bigint).
MAX_ACCESS_COUNT = 9_223_372_036_854_775_807


def validate_name(value: Any, *, what: str) -> str:
    """A tenant or namespace name."""
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InvalidInput(f"{what} must be 1-64 characters of [A-Za-z0-9_.-].", f"invalid_{what}")
    return value


def validate_json_object(value: Any, *, what: str, code: str = MemoryErrorCode.INVALID_PAYLOAD) -> dict[str, Any]:
    """A payload or metadata (a link's too, with its own code): a JSON object, not nested too
    deep, every number representable."""
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object.", code)
    if json_depth(value) > settings.SOMA_MAX_JSON_DEPTH:
        raise InvalidInput(f"{what} is nested deeper than {settings.SOMA_MAX_JSON_DEPTH} levels.", code)
    # Refused up front rather than stored unsearchable: the vector engine holds numbers as
    # doubles, and a memory that was accepted must be findable.
    if (problem := unrepresentable_number(value)) is not None:
        raise InvalidInput(f"{what}: {problem}.", code)
    return value


def validate_memory_type(value: Any) -> str:
    if value not in MemoryType.values:
        raise InvalidInput("memory_type must be 'episodic' or 'semantic'.", MemoryErrorCode.INVALID_MEMORY_TYPE)
    return str(value)


def validate_importance(value: Any) -> float:
    # JSON's rule, as the API's schema has it: no strings, no booleans.
    if isinstance(value, bool) or not isinstance(value, int | float) or not number_representable(value):
        raise InvalidInput("importance must be a number between 0 and 1.", MemoryErrorCode.INVALID_IMPORTANCE)
    if not 0.0 <= value <= 1.0:
        raise InvalidInput("importance must be a number between 0 and 1.", MemoryErrorCode.INVALID_IMPORTANCE)
    return float(value)


def validate_text(value: Any) -> str | None:
    """The text given to embed (None: derived from the payload, memories.text)."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput("text must be a string.", MemoryErrorCode.INVALID_PAYLOAD)
    return value


def validate_coordinate(value: Any) -> Coordinate | None:
    # "" is a malformed coordinate (400), not "no coordinate": null or an absent field is that.
    return parse_coordinate(value) if value is not None else None


def validate_pinned(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("pinned must be true or false.", MemoryErrorCode.INVALID_PAYLOAD)
    return value


def validate_moment(value: Any, *, what: str, code: str = MemoryErrorCode.INVALID_PAYLOAD) -> datetime | None:
    """An ISO-8601 date-time (memories.values' rule) or a datetime (a naive one is UTC), or None."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else moment_parse(value)
    if moment is None:
        raise InvalidInput(f"{what}: {str(value)[:40]!r} is not an ISO-8601 date-time.", code)
    return timezone.make_aware(moment, UTC) if timezone.is_naive(moment) else moment


def validate_access_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ACCESS_COUNT:
        raise InvalidInput("access_count must be a whole number from 0.", MemoryErrorCode.INVALID_PAYLOAD)
    return value


def resolve_expiry(*, expires_at: datetime | None, ttl_seconds: int | None, now: datetime) -> datetime | None:
    """The moment a memory expires: `expires_at`, or `now + ttl_seconds`; not both."""
    if expires_at is not None and ttl_seconds is not None:
        raise InvalidInput("Give expires_at or ttl_seconds, not both.", MemoryErrorCode.INVALID_EXPIRY)
    if ttl_seconds is not None:
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
            raise InvalidInput(
                f"ttl_seconds must be a whole number from 1 to {MAX_TTL_SECONDS}.", MemoryErrorCode.INVALID_EXPIRY
            )
        return now + timedelta(seconds=ttl_seconds)
    if expires_at is not None and timezone.is_naive(expires_at):
        return timezone.make_aware(expires_at, UTC)
    # In UTC, as every read renders it: the write's answer once echoed the offset sent.
    return expires_at.astimezone(UTC) if expires_at is not None else None
