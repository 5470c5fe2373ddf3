"""The export/import's error codes (the exceptions are core.errors', one error shape everywhere)."""

from __future__ import annotations

from enum import StrEnum


class PortabilityErrorCode(StrEnum):
    INVALID_IMPORT_RECORD = "invalid_import_record"
