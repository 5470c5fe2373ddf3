"""Graph writes. The API and the admin both call these."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from graph.errors import GraphErrorCode, InvalidInput, NotFound, Unprocessable
from graph.models import LINK_TYPE_RE, Link
from graph.selectors import MemoryRef, memories_resolve
from memories.models import Memory
from memories.text import json_depth

DEFAULT_LINK_TYPE = "related"
DEFAULT_STRENGTH = 1.0


@dataclass
class LinkResult:
    link: Link
    created: bool


def validate_link_type(link_type: str) -> str:
    if not isinstance(link_type, str) or not LINK_TYPE_RE.match(link_type):
        raise InvalidInput("link_type must be 1-64 characters of [A-Za-z0-9_.:-].", GraphErrorCode.INVALID_LINK_TYPE)
    return link_type


def _validate_strength(strength: float) -> float:
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not math.isfinite(strength):
        raise InvalidInput("strength must be a finite number.", GraphErrorCode.INVALID_STRENGTH)
    return float(strength)


def _validate_metadata(metadata: Any) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise InvalidInput("metadata must be a JSON object.", GraphErrorCode.INVALID_METADATA)
    if json_depth(metadata) > settings.SOMA_MAX_JSON_DEPTH:
        raise InvalidInput(
            f"metadata is nested deeper than {settings.SOMA_MAX_JSON_DEPTH} levels.", GraphErrorCode.INVALID_METADATA
        )
    return metadata


def _ends(tenant: str, source: MemoryRef, target: MemoryRef) -> tuple[Memory, Memory]:
    if source == target:
        raise Unprocessable("A memory cannot link to itself.", GraphErrorCode.SELF_LINK)
    source_memory, target_memory = memories_resolve(tenant=tenant, refs=[source, target])
    if source_memory.pk == target_memory.pk:
        raise Unprocessable("A memory cannot link to itself.", GraphErrorCode.SELF_LINK)
    return source_memory, target_memory


# One statement, so concurrent identical requests make one link and never a unique-violation:
# the loser of the race updates the winner's row. `xmax = 0` marks a row this statement inserted.
# Only the fields the caller gave are updated (the flags), so re-linking keeps a strength it omits.
_UPSERT_SQL = """
INSERT INTO graph_link (tenant, source_id, target_id, link_type, strength, metadata, created_at)
VALUES (%(tenant)s, %(source)s, %(target)s, %(link_type)s, %(strength)s, %(metadata)s::jsonb, now())
ON CONFLICT (source_id, target_id, link_type) DO UPDATE SET
    strength = CASE WHEN %(set_strength)s THEN EXCLUDED.strength ELSE graph_link.strength END,
    metadata = CASE WHEN %(set_metadata)s THEN EXCLUDED.metadata ELSE graph_link.metadata END
RETURNING id, strength, metadata::text, created_at, (xmax = 0) AS inserted
"""


def link_upsert(
    *,
    tenant: str,
    source: MemoryRef,
    target: MemoryRef,
    link_type: str = DEFAULT_LINK_TYPE,
    strength: float | None = None,
    metadata: dict[str, Any] | None = None,
) -> LinkResult:
    """Create the link source -[link_type]-> target, or update the strength/metadata given.

    404 `memory_not_found` when an end is missing (another tenant's memory is missing too),
    422 `self_link` when both ends are one memory; nothing is written then.
    """
    validate_link_type(link_type)
    if strength is not None:
        _validate_strength(strength)
    if metadata is not None:
        _validate_metadata(metadata)
    source_memory, target_memory = _ends(tenant, source, target)
    params: dict[str, Any] = {
        "tenant": tenant,
        "source": source_memory.pk,
        "target": target_memory.pk,
        "link_type": link_type,
        "strength": DEFAULT_STRENGTH if strength is None else float(strength),
        "metadata": json.dumps(metadata or {}),
        "set_strength": strength is not None,
        "set_metadata": metadata is not None,
    }
    try:
        # The foreign keys are deferred: an end deleted meanwhile fails at commit, inside here.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_UPSERT_SQL, params)
            link_id, stored_strength, stored_metadata, created_at, inserted = cursor.fetchone()
    except IntegrityError:
        raise NotFound("A memory at one end of the link no longer exists.", GraphErrorCode.MEMORY_NOT_FOUND) from None
    link = Link(
        id=link_id,
        tenant=tenant,
        source=source_memory,
        target=target_memory,
        link_type=link_type,
        strength=stored_strength,
        metadata=json.loads(stored_metadata),
        created_at=created_at,
    )
    return LinkResult(link=link, created=bool(inserted))


@dataclass
class DeletedLink:
    source: Memory
    target: Memory
    link_type: str


def link_delete(
    *, tenant: str, source: MemoryRef, target: MemoryRef, link_type: str = DEFAULT_LINK_TYPE
) -> DeletedLink:
    """404 `memory_not_found` when an end is missing, `link_not_found` when the link is."""
    validate_link_type(link_type)
    source_memory, target_memory = memories_resolve(tenant=tenant, refs=[source, target])
    deleted, _ = Link.objects.filter(
        tenant=tenant, source=source_memory, target=target_memory, link_type=link_type
    ).delete()
    if not deleted:
        raise NotFound(f"No {link_type!r} link from {source.label} to {target.label}.", GraphErrorCode.LINK_NOT_FOUND)
    return DeletedLink(source=source_memory, target=target_memory, link_type=link_type)


def link_save(*, link: Link) -> Link:
    """A link edited as a whole (the admin): validated like the API's, then saved."""
    link.full_clean(validate_unique=True, validate_constraints=True)
    link.save()
    return link
