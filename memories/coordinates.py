"""Coordinates: 1 to 16 finite numbers; the canonical key formats each with repr(float(x))."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import InvalidInput
from memories.errors import MemoryErrorCode

MAX_DIMENSIONS = 16
# ASCII digits only (re.ASCII): float() also reads "\u0663" (Arabic-Indic 3) and full-width digits.
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)


@dataclass(frozen=True)
class Coordinate:
    values: tuple[float, ...]

    @property
    def key(self) -> str:
        return ",".join(repr(value) for value in self.values)


def parse_coordinate(raw: str | Sequence[float | int]) -> Coordinate:
    if isinstance(raw, str):
        parts = [part.strip() for part in raw.split(",")]
        if not raw.isascii() or not all(_NUMBER.match(part) for part in parts):
            raise _invalid(f"Coordinate {raw[:80]!r} is not a comma-separated list of numbers.")
        values = tuple(float(part) for part in parts)
    elif isinstance(raw, Sequence):
        if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in raw):
            raise _invalid("Coordinate values must be numbers.")
        values = tuple(float(value) for value in raw)
    else:
        raise _invalid("Coordinate must be a string such as '1.0,2.0,3.0' or a list of numbers.")
    if not 1 <= len(values) <= MAX_DIMENSIONS:
        raise _invalid(f"Coordinate must have 1 to {MAX_DIMENSIONS} numbers, not {len(values)}.")
    if not all(math.isfinite(value) for value in values):
        raise _invalid("Coordinate values must be finite numbers.")
    return Coordinate(values)


def looks_like_coordinate(ref: str) -> bool:
    return "," in ref or bool(_NUMBER.match(ref.strip()))


def _invalid(detail: str) -> InvalidInput:
    return InvalidInput(detail, MemoryErrorCode.INVALID_COORDINATE)
