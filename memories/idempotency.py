"""Idempotent writes: the first answer to a request sent with an `Idempotency-Key` is kept for
24 h per tenant (in PostgreSQL, so every worker and replica agrees) and replayed to retries.

The key is claimed by an INSERT in the transaction that does the write, and the answer stored
before it commits. A concurrent retry's INSERT waits on the unique index until that
transaction ends, then finds the answer (or, if it rolled back, claims the key itself): one
write, whatever the number of retries in flight. A refused request leaves no key behind.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection

from core.errors import Conflict, InvalidInput
from memories.errors import MemoryErrorCode

IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")

# A key older than 24 h is free again (prune_history deletes it later).
_CLAIM_SQL = """
INSERT INTO memories_idempotencykey (tenant, key, request_hash, status_code, response, created_at)
VALUES (%s, %s, %s, NULL, NULL, now())
ON CONFLICT (tenant, key) DO UPDATE
    SET request_hash = EXCLUDED.request_hash, status_code = NULL, response = NULL, created_at = EXCLUDED.created_at
    WHERE memories_idempotencykey.created_at < now() - interval '24 hours'
RETURNING id
"""
_READ_SQL = (
    "SELECT request_hash, status_code, response::text FROM memories_idempotencykey WHERE tenant = %s AND key = %s"
)
_STORE_SQL = "UPDATE memories_idempotencykey SET status_code = %s, response = %s::jsonb WHERE tenant = %s AND key = %s"


@dataclass
class Replay:
    status_code: int
    response: dict[str, Any]


def validate_idempotency_key(key: str) -> str:
    if not _KEY_PATTERN.match(key):
        raise InvalidInput(
            f"{IDEMPOTENCY_HEADER} must be 1-255 printable ASCII characters without spaces.",
            MemoryErrorCode.INVALID_IDEMPOTENCY_KEY,
        )
    return key


def request_fingerprint(*, path: str, body: Any) -> str:
    """The same request whatever the key order or spacing of its JSON."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{path}\n{canonical}".encode("utf-8", "surrogatepass")).hexdigest()


def idempotency_claim(*, tenant: str, key: str, request_hash: str) -> Replay | None:
    """None: the key is ours, do the write and `idempotency_store` its answer in this same
    transaction. Else the first answer to replay; 409 `idempotency_conflict` when the key was
    used for another request."""
    validate_idempotency_key(key)
    with connection.cursor() as cursor:
        for _ in range(2):
            cursor.execute(_CLAIM_SQL, [tenant, key, request_hash])
            if cursor.fetchone() is not None:
                return None
            cursor.execute(_READ_SQL, [tenant, key])
            row = cursor.fetchone()
            if row is not None:
                break
            # Pruned between the two statements: claim again.
        else:  # pragma: no cover - needs a prune between two statements twice
            raise Conflict("The idempotency key could not be claimed; retry.", MemoryErrorCode.IDEMPOTENCY_CONFLICT)
    stored_hash, status_code, response = row
    if stored_hash != request_hash:
        raise Conflict(
            f"This {IDEMPOTENCY_HEADER} was used for another request in the last 24 hours.",
            MemoryErrorCode.IDEMPOTENCY_CONFLICT,
        )
    if status_code is None:  # pragma: no cover - a claim is answered in the transaction that made it
        raise Conflict("The first request with this key is still running; retry.", MemoryErrorCode.IDEMPOTENCY_CONFLICT)
    return Replay(status_code=status_code, response=json.loads(response))


def idempotency_store(*, tenant: str, key: str, status_code: int, response: dict[str, Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_STORE_SQL, [status_code, json.dumps(response), tenant, key])
