"""Error codes of API-key management; the classes are the shared ServiceError family."""

from __future__ import annotations

from enum import StrEnum


class ApiKeyErrorCode(StrEnum):
    INVALID_TENANT = "invalid_tenant"
    INVALID_NAME = "invalid_name"
    API_KEY_NOT_FOUND = "api_key_not_found"
