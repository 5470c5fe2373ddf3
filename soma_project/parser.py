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
            return json.loads(request.body, parse_constant=_reject_constant)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc
