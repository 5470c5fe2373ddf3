"""One rule per input class, applied on every path (API, batch, import, admin, filters, cursors).

- Date-times: ASCII ISO-8601 that `datetime.fromisoformat` reads (so no month 13, Feb 30,
  hour 25 or offset of 24 h), whose instant lies in years 1..9999 once moved to UTC. A naive
  one is read in the server's time zone, as before.
- Numbers in payloads, metadata and filters: what a double holds. Integers beyond ±1.8e308
  are refused, as are NaN and the infinities (JSON's 1e400 parses as one): PostgreSQL could
  hold some of them, the vector engine cannot, and an accepted memory must be findable.
- Digits (cursors, counters): ASCII 0-9 only; `str.isdigit()` also accepts "²" and "①".
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from django.utils.timezone import get_default_timezone

_ASCII_DIGITS = re.compile(r"[0-9]+")
# A JSON document is bounded by the body size; the walk is iterative, as json_depth's.
_NUMBER_PROBLEM = (
    "numbers must be finite, within the range of a double (about ±1.8e308) and not so small that they round to 0"
)


def moment_parse(value: Any) -> datetime | None:
    """The timezone-aware UTC instant `value` names, or None when it is not one (see above)."""
    # isprintable: fromisoformat reads "2025-01-01T00:00:00\x00Z", NUL and all.
    if not isinstance(value, str) or not value.isascii() or not value.isprintable() or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=get_default_timezone())
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def ascii_int(value: Any, *, max_digits: int) -> int | None:
    """A non-negative integer written in 1..max_digits ASCII digits, or None."""
    if not isinstance(value, str) or len(value) > max_digits or not _ASCII_DIGITS.fullmatch(value):
        return None
    return int(value)


def number_representable(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True  # not a number: not this rule's business
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return False
        return True
    return math.isfinite(value)


def unrepresentable_number(document: Any) -> str | None:
    """Why `document` (any JSON value) cannot be stored faithfully everywhere, or None."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif not number_representable(item):
            return _NUMBER_PROBLEM
    return None
