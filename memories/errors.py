"""The memory services' error codes (the exceptions are core.errors', one error shape everywhere)."""

from __future__ import annotations

from enum import StrEnum


class MemoryErrorCode(StrEnum):
    MEMORY_NOT_FOUND = "memory_not_found"
    INVALID_COORDINATE = "invalid_coordinate"
    INVALID_FILTER = "invalid_filter"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_REFERENCE = "invalid_reference"
    INVALID_PAYLOAD = "invalid_payload"
    BATCH_ITEM_INVALID = "batch_item_invalid"
    COORDINATE_TAKEN = "coordinate_taken"
    VERSION_NOT_FOUND = "version_not_found"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    INVALID_EXPIRY = "invalid_expiry"
    INVALID_FORGET_POLICY = "invalid_forget_policy"
    INVALID_RANKING = "invalid_ranking"
    INVALID_DEDUPE = "invalid_dedupe"
    INVALID_MEMORY_TYPE = "invalid_memory_type"
    INVALID_IMPORTANCE = "invalid_importance"
