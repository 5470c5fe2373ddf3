from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


class StrictJsonParser(Parser):
    """RFC 8259 JSON only: NaN/Infinity are refused, and so is nesting deep enough to blow the stack.

    Any exception here becomes ninja's 400 "Cannot parse request body".
    """

    def parse_body(self, request: HttpRequest) -> Any:
        try:
            data = json.loads(request.body, parse_constant=_reject_constant)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc
        reject_unstorable_strings(data)
        return data


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
