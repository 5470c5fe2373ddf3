"""What gets embedded for a memory (docs/design.md, "Embeddings")."""

from __future__ import annotations

from typing import Any

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
