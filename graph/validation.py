"""The rules a link's fields obey, written once: the API's link upsert and delete
(graph.services), the admin's forms (Link.clean) and the import (portability) check them here."""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from core.errors import InvalidInput, Unprocessable
from graph.errors import GraphErrorCode
from memories.validation import validate_json_object

LINK_TYPE_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
LINK_TYPE_RE = re.compile(LINK_TYPE_PATTERN)


def validate_link_type(link_type: Any) -> str:
    if not isinstance(link_type, str) or not LINK_TYPE_RE.match(link_type):
        raise InvalidInput("link_type must be 1-64 characters of [A-Za-z0-9_.:-].", GraphErrorCode.INVALID_LINK_TYPE)
    return link_type


def validate_strength(strength: Any) -> float:
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not math.isfinite(strength):
        raise InvalidInput("strength must be a finite number.", GraphErrorCode.INVALID_STRENGTH)
    return float(strength)


def validate_link_metadata(metadata: Any) -> dict[str, Any]:
    return validate_json_object(metadata, what="metadata", code=GraphErrorCode.INVALID_METADATA)


def validate_link_ends(source: uuid.UUID | None, target: uuid.UUID | None) -> None:
    """Two different memories (ends not resolved yet, None, are checked once they are)."""
    if source is not None and source == target:
        raise Unprocessable("A memory cannot link to itself.", GraphErrorCode.SELF_LINK)
