from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser

from memories.text import json_float, reject_json_constant, unstorable_string


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
