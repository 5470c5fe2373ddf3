"""Duplicates caught at the door: `dedupe="exact"` finds a memory of the same text in the
tenant+namespace (by the `memory_text_hash` index, no scan); `"semantic"` also asks the vector
store for one at cosine >= the threshold. `vectors` registers that search at start-up, since
memories imports no other app; without it "semantic" is "exact".

The semantic check sees memories once they are embedded (right after their write commits):
two near-identical texts written at the same instant can both be stored. The exact check
cannot miss that way: `duplicates_claim` holds a lock per text until the transaction ends.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.functions import MD5

from core.errors import InvalidInput
from memories.errors import MemoryErrorCode
from memories.models import Memory

DedupeMode = Literal["none", "exact", "semantic"]
DEDUPE_MODES: tuple[str, ...] = ("none", "exact", "semantic")
DEFAULT_THRESHOLD = 0.95


@dataclass(frozen=True)
class DedupeQuery:
    namespace: str
    text: str
    mode: str = "exact"
    threshold: float = DEFAULT_THRESHOLD


SemanticFinder = Callable[[str, Sequence[DedupeQuery]], list[uuid.UUID | None]]
_semantic_finders: list[SemanticFinder] = []


def semantic_finder_register(finder: SemanticFinder) -> None:
    """`finder(tenant, queries)` answers, per query, a live memory at cosine >= its threshold."""
    _semantic_finders[:] = [finder]


def validate_dedupe(mode: str, threshold: float) -> None:
    if mode not in DEDUPE_MODES:
        raise InvalidInput("dedupe must be 'none', 'exact' or 'semantic'.", MemoryErrorCode.INVALID_DEDUPE)
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInput("dedupe_threshold must be between 0 and 1.", MemoryErrorCode.INVALID_DEDUPE)


def _digest(text: str) -> str:
    # PostgreSQL's md5() of the UTF-8 text: what the index holds.
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def duplicates_claim(*, tenant: str, queries: Sequence[DedupeQuery]) -> list[uuid.UUID | None]:
    """Per query, the memory it duplicates or None. Call inside the transaction that stores
    the others: each text stays locked until it ends, so a concurrent writer of the same text
    waits and then finds it. An empty text (a payload without words) is never a duplicate."""
    wanted = [q for q in queries if q.mode != "none" and q.text]
    if not wanted:
        return [None] * len(queries)
    keys = sorted({f"{tenant}/{q.namespace}/{_digest(q.text)}" for q in wanted})
    with connection.cursor() as cursor:
        # One lock order for every writer (sorted), so two batches never deadlock on them.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 23)) FROM unnest(%s::text[]) AS k ORDER BY k", [keys]
        )
    exact = _exact(tenant=tenant, queries=wanted)
    answers: list[uuid.UUID | None] = [
        exact.get((q.namespace, q.text)) if q.mode != "none" and q.text else None for q in queries
    ]
    semantic = [i for i, q in enumerate(queries) if q.mode == "semantic" and q.text and answers[i] is None]
    if semantic and _semantic_finders:
        found = _semantic_finders[0](tenant, [queries[i] for i in semantic])
        for index, memory_id in zip(semantic, found, strict=True):
            answers[index] = memory_id
    return answers


def same_text_queryset(*, tenant: str, queries: Sequence[DedupeQuery]) -> QuerySet[Memory]:
    """The live memories of the queries' texts, found by the `memory_text_hash` index (one query).

    An expired memory reads as deleted, so it is nobody's duplicate: matched, the new write was
    answered `duplicate_of` a memory no read could find, and nothing was stored."""
    condition = Q()
    for namespace, digest in {(q.namespace, _digest(q.text)) for q in queries}:
        condition |= Q(namespace=namespace, text_md5=digest)
    return Memory.objects.filter(tenant=tenant).visible().annotate(text_md5=MD5("text")).filter(condition)


def _exact(*, tenant: str, queries: Sequence[DedupeQuery]) -> dict[tuple[str, str], uuid.UUID]:
    """The oldest memory of each (namespace, text); the text itself is compared too."""
    rows = (
        same_text_queryset(tenant=tenant, queries=queries)
        .order_by("created_at", "id")
        .values_list("namespace", "text", "id")
    )
    first: dict[tuple[str, str], uuid.UUID] = {}
    for namespace, text, memory_id in rows:
        first.setdefault((namespace, text), memory_id)
    return first
