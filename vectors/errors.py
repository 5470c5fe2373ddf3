"""The vectors app's error codes (the exceptions are core.errors', one error shape everywhere)."""

from __future__ import annotations

from enum import StrEnum


class VectorErrorCode(StrEnum):
    INVALID_MODE = "invalid_mode"
