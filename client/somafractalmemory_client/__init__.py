"""Typed client for the SomaFractalMemory HTTP API (contract v1.4).

Answers are the models of `somafractalmemory_client.models`; refusals raise the exceptions of
`somafractalmemory_client.errors` (one per error code, grouped by status under `ApiError`). Every
error raised is a `SomaError`: also `TransportError` (unreachable), `InvalidArgument` (refused
before sending) and `UnexpectedAnswer` (an answer the endpoint does not give).
"""

from somafractalmemory_client import errors, models
from somafractalmemory_client.aio import AsyncSomaClient
from somafractalmemory_client.calls import Call
from somafractalmemory_client.client import SomaClient
from somafractalmemory_client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidArgument,
    NotFound,
    ServiceUnavailable,
    SomaError,
    Throttled,
    TransportError,
    Unauthorized,
    UnexpectedAnswer,
    ValidationFailed,
)
from somafractalmemory_client.retry import Retry

__all__ = [
    "ApiError",
    "AsyncSomaClient",
    "BadRequest",
    "Call",
    "Conflict",
    "Forbidden",
    "InvalidArgument",
    "NotFound",
    "Retry",
    "ServiceUnavailable",
    "SomaClient",
    "SomaError",
    "Throttled",
    "TransportError",
    "Unauthorized",
    "UnexpectedAnswer",
    "ValidationFailed",
    "errors",
    "models",
]
