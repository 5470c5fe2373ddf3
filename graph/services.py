"""Graph writes. The API and the admin both call these."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction

from core.errors import NotFound, Unprocessable
from graph.errors import GraphErrorCode
from graph.models import Link
from graph.selectors.nodes import REF_FIELDS, MemoryRef, nodes_resolve
from graph.validation import validate_link_ends, validate_link_metadata, validate_link_type, validate_strength
from memories.coordinates import parse_coordinate
from memories.models import Memory

DEFAULT_LINK_TYPE = "related"
DEFAULT_STRENGTH = 1.0


@dataclass
class LinkResult:
    link: Link
    created: bool


# A bare node has nothing to embed: 'indexed' keeps it out of the dirty index the sweeper reads.
_BARE_NODE_SQL = """
INSERT INTO memories_memory
    (id, tenant, namespace, coordinate, coord_key, memory_type, payload, text, metadata,
     importance, created_at, updated_at, vector_status, vector_model, vector_error, bare_node)
VALUES (%s, %s, %s, %s::double precision[], %s, 'episodic', '{}'::jsonb, '', '{}'::jsonb,
        0, now(), now(), 'indexed', '', '', true)
ON CONFLICT (tenant, namespace, coord_key) DO NOTHING
RETURNING id
"""


def _node_at(tenant: str, ref: MemoryRef) -> Memory:
    """The node at a coordinate: a bare one is made when nothing is there (race-free: the
    coordinate's unique key; a concurrent maker's row, memory or node, is the one returned)."""
    assert ref.coord_key is not None
    values = list(parse_coordinate(ref.coord_key).values)
    with connection.cursor() as cursor:
        cursor.execute(_BARE_NODE_SQL, [uuid.uuid4(), tenant, ref.namespace, values, ref.coord_key])
        row = cursor.fetchone()
    if row is not None:
        return Memory(
            id=row[0],
            tenant=tenant,
            namespace=ref.namespace,
            coord_key=ref.coord_key,
            coordinate=values,
            bare_node=True,
        )
    return Memory.with_nodes.only(*REF_FIELDS).get(tenant=tenant, namespace=ref.namespace, coord_key=ref.coord_key)


def _resolve_ends(tenant: str, source: MemoryRef, target: MemoryRef) -> tuple[Memory | None, Memory | None]:
    if source == target:
        raise Unprocessable("A memory cannot link to itself.", GraphErrorCode.SELF_LINK)
    source_node, target_node = nodes_resolve(tenant=tenant, refs=[source, target])
    if source_node is not None and target_node is not None:
        validate_link_ends(source_node.pk, target_node.pk)
    return source_node, target_node


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
# A memory deleted between the lookup and the commit fails the (deferred) foreign key. An end
# named by coordinate is then simply looked up (or made bare) again: linking coordinates never 404s.
_ATTEMPTS_BY_COORDINATE = 3


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

    An end named by coordinate is a node whether or not a memory is stored there: a coordinate
    with nothing at it becomes a bare node (see `Memory.bare_node`). 404 `memory_not_found` when
    an end named by id is missing (another tenant's is missing too), 422 `self_link` when both
    ends are one node; nothing is written then.
    """
    validate_link_type(link_type)
    if strength is not None:
        validate_strength(strength)
    if metadata is not None:
        validate_link_metadata(metadata)
    by_coordinate = source.id is None or target.id is None
    for attempt in range(1, _ATTEMPTS_BY_COORDINATE + 1 if by_coordinate else 2):
        source_node, target_node = _resolve_ends(tenant, source, target)
        try:
            # The foreign keys are deferred: an end deleted meanwhile fails at commit, inside here.
            with transaction.atomic():
                source_node = source_node or _node_at(tenant, source)
                target_node = target_node or _node_at(tenant, target)
                validate_link_ends(source_node.pk, target_node.pk)  # made concurrently at one coordinate
                with connection.cursor() as cursor:
                    cursor.execute(
                        _UPSERT_SQL,
                        {
                            "tenant": tenant,
                            "source": source_node.pk,
                            "target": target_node.pk,
                            "link_type": link_type,
                            "strength": DEFAULT_STRENGTH if strength is None else float(strength),
                            "metadata": json.dumps(metadata or {}),
                            "set_strength": strength is not None,
                            "set_metadata": metadata is not None,
                        },
                    )
                    link_id, stored_strength, stored_metadata, created_at, inserted = cursor.fetchone()
            break
        except IntegrityError:
            if not by_coordinate or attempt == _ATTEMPTS_BY_COORDINATE:
                raise NotFound(
                    "A memory at one end of the link no longer exists.", GraphErrorCode.MEMORY_NOT_FOUND
                ) from None
    link = Link(
        id=link_id,
        tenant=tenant,
        source=source_node,
        target=target_node,
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
    """404 `memory_not_found` when an end named by id is missing, `link_not_found` when the link is.

    A bare node stays when its last link goes: it answers as an unused coordinate does (no
    links, no neighbours). Removing it here would race a concurrent link to that coordinate.
    """
    validate_link_type(link_type)
    source_memory, target_memory = nodes_resolve(tenant=tenant, refs=[source, target])
    deleted = 0
    if source_memory is not None and target_memory is not None:
        deleted, _ = Link.objects.filter(
            tenant=tenant, source=source_memory, target=target_memory, link_type=link_type
        ).delete()
    if not deleted or source_memory is None or target_memory is None:
        raise NotFound(f"No {link_type!r} link from {source.label} to {target.label}.", GraphErrorCode.LINK_NOT_FOUND)
    return DeletedLink(source=source_memory, target=target_memory, link_type=link_type)


def link_save(*, link: Link) -> Link:
    """A link edited as a whole (the admin): validated like the API's, then saved."""
    link.full_clean(validate_unique=True, validate_constraints=True)
    link.save()
    return link
