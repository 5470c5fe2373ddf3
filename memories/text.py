"""What gets embedded for a memory (docs/design.md, "Embeddings")."""

from __future__ import annotations

import math
from typing import Any, NoReturn

TEXT_KEYS = ("content", "text", "memory")
MAX_TEXT_CHARS = 20_000


def memory_text(*, payload: dict[str, Any], text: str | None) -> str:
    if text and text.strip():
        return text.strip()[:MAX_TEXT_CHARS]
    for key in TEXT_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_TEXT_CHARS]
    lines = [f"{path}: {value}" for path, value in _string_values(payload, prefix="")]
    return "\n".join(lines)[:MAX_TEXT_CHARS]


def _string_values(value: Any, *, prefix: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(prefix, value.strip())] if value.strip() else []
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            found.extend(_string_values(value[key], prefix=f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        for item in value:
            found.extend(_string_values(item, prefix=prefix))
    return found


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
