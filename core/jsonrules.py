"""The strict JSON rules of every request body and stored document: RFC 8259 only (no NaN or
Infinity), numbers that fit a double, strings PostgreSQL can store, bounded nesting; and the
parser the API reads bodies with."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

from django.http import HttpRequest
from django.utils.timezone import get_default_timezone
from ninja.parser import Parser
from pydantic import AfterValidator, BeforeValidator, Strict


def json_depth(value: Any) -> int:
    """Nesting depth, iteratively: a hostile document must not exhaust the stack."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def unstorable_string(text: str) -> bool:
    """NUL and lone surrogates are valid JSON escapes, but PostgreSQL text/jsonb cannot hold them."""
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_float(text: str) -> float:
    """json.loads(parse_float=...): a literal too small for a double (1e-400) would silently read
    as 0.0 and one too large as inf; both read as NaN, which every number check refuses, so what
    is accepted is stored as it was sent."""
    value = float(text)
    mantissa = text.lower().partition("e")[0]
    if math.isinf(value) or (value == 0.0 and any(digit in mantissa for digit in "123456789")):
        return math.nan
    return value


def reject_json_constant(name: str) -> NoReturn:
    """json.loads(parse_constant=...): NaN and Infinity are not RFC 8259 JSON."""
    raise ValueError(f"{name} is not valid JSON")


class StrictJsonParser(Parser):
    """RFC 8259 JSON only: NaN/Infinity are refused, and so is nesting deep enough to blow the stack.

    Any exception here becomes ninja's 400 "Cannot parse request body".
    """

    def parse_body(self, request: HttpRequest) -> Any:
        try:
            data = json.loads(request.body, parse_constant=reject_json_constant, parse_float=json_float)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc
        reject_unstorable_strings(data)
        return data


def reject_unstorable_strings(data: Any) -> None:
    # Iterative: the nesting depth is bounded by the recursion limit json.loads already enforced.
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if unstorable_string(value):
                raise ValueError("JSON strings may not contain NUL characters or unpaired surrogates")
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _iso_moment(value: Any) -> Any:
    """pydantic reads a number (or a numeric string, as every query parameter is) as Unix time;
    the contract's moments are ISO-8601 strings, so a number is refused rather than guessed."""
    if isinstance(value, bool | int | float) or (isinstance(value, str) and _NUMERIC.fullmatch(value.strip())):
        raise ValueError("expected an ISO-8601 date-time string, not a number")
    return value


def _real_instant(value: datetime) -> datetime:
    """pydantic reads "9999-12-31T23:59:59-05:00", an instant in the year 10000 once in UTC, and
    PostgreSQL stores it, but no Python datetime can hold it when it is read back: every read of
    that memory then failed. The same rule as everywhere else (memories.values.moment_parse):
    the instant lies in years 1..9999 once moved to UTC."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=get_default_timezone())
    try:
        aware.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the date-time must lie in the years 1 to 9999 once moved to UTC") from exc
    return value


_NUMERIC = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

# A date-time field of a request: an ISO-8601 string only, naming an instant of years 1..9999.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_moment), AfterValidator(_real_instant)]

# A number inside a JSON body's list (a coordinate's values): a JSON number only. pydantic's lax
# float read `true` as 1.0 and "2" as 2.0, so `[true, 2]` replaced the memory at "1.0,2.0".
StrictNumber = Annotated[float, Strict()]
