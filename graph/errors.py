"""The graph's error codes (the exceptions are core.errors', one error shape everywhere)."""

from __future__ import annotations

from enum import StrEnum


class GraphErrorCode(StrEnum):
    MEMORY_NOT_FOUND = "memory_not_found"
    LINK_NOT_FOUND = "link_not_found"
    SELF_LINK = "self_link"
    MISSING_REFERENCE = "missing_reference"
    AMBIGUOUS_REFERENCE = "ambiguous_reference"
    INVALID_LINK_TYPE = "invalid_link_type"
    INVALID_STRENGTH = "invalid_strength"
    INVALID_METADATA = "invalid_metadata"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_HOPS = "invalid_hops"
