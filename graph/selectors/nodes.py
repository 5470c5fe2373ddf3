"""Nodes: how a request names one (`MemoryRef`), and finding the nodes it names."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from core.errors import NotFound, Unprocessable
from graph.errors import GraphErrorCode
from memories.coordinates import parse_coordinate
from memories.models import Memory
from memories.selectors import memory_ref_lookup

# What a traversal needs to know about its end points (never the payload).
REF_FIELDS = ("id", "tenant", "namespace", "coord_key", "coordinate", "bare_node")


@dataclass(frozen=True)
class MemoryRef:
    """A node named by id (ours), or by coordinate within a namespace (the client's)."""

    id: uuid.UUID | None = None
    coord_key: str | None = None
    namespace: str = "default"

    @classmethod
    def of(
        cls, *, id: uuid.UUID | None, coord: str | Sequence[float] | None, namespace: str = "default", side: str
    ) -> MemoryRef:
        """From an `<side>_id` / `<side>_coord` pair where exactly one is given (`side` "": the
        plain `id` / `coord` of /graph/neighbors); a bad coordinate is a 400."""
        has_coord = coord is not None  # "" is a malformed coordinate (400), as on /memories
        names = f"{side}_coord or {side}_id" if side else "coord or id"
        if id is None and not has_coord:
            raise Unprocessable(f"Give {names}.", GraphErrorCode.MISSING_REFERENCE)
        if id is not None and has_coord:
            raise Unprocessable(f"Give {names}, not both.", GraphErrorCode.AMBIGUOUS_REFERENCE)
        if id is not None:
            return cls(id=id)
        assert coord is not None
        return cls(coord_key=parse_coordinate(coord).key, namespace=namespace)

    @classmethod
    def parse(cls, ref: str, *, namespace: str | None = None) -> MemoryRef:
        """A path-style reference: a UUID, or a coordinate string (400 when it is neither)."""
        lookup = memory_ref_lookup(ref=ref, namespace=namespace)
        if "pk" in lookup:
            return cls(id=lookup["pk"])  # type: ignore[arg-type]
        return cls(coord_key=lookup["coord_key"], namespace=lookup["namespace"])  # type: ignore[arg-type]

    @property
    def label(self) -> str:
        return str(self.id) if self.id is not None else f"{self.coord_key!r} in namespace {self.namespace!r}"

    def q(self) -> Q:
        if self.id is not None:
            return Q(pk=self.id)
        return Q(namespace=self.namespace, coord_key=self.coord_key)

    def matches(self, memory: Memory) -> bool:
        if self.id is not None:
            return memory.pk == self.id
        return memory.namespace == self.namespace and memory.coord_key == self.coord_key


def nodes_resolve(*, tenant: str, refs: Sequence[MemoryRef]) -> list[Memory | None]:
    """The nodes named by `refs` (memories or bare coordinates), in order, in one query.

    None for a coordinate that is no node: coordinates are the client's, and one nobody stored
    or linked is simply an empty node. An id names a node we made, so an unknown one is a 404
    `memory_not_found`; another tenant's is unknown too (tenants never see each other's).
    """
    condition = Q()
    for ref in refs:
        condition |= ref.q()
    found = list(Memory.with_nodes.filter(condition, tenant=tenant).only(*REF_FIELDS, "expires_at"))
    now = timezone.now()
    resolved: list[Memory | None] = []
    for ref in refs:
        node = next((m for m in found if ref.matches(m)), None)
        # An expired memory named by its id is gone, as if deleted. Its coordinate stays a node
        # until the purge (the row holds the coordinate's unique key meanwhile).
        expired = node is not None and node.expires_at is not None and node.expires_at <= now
        if (node is None or expired) and ref.id is not None:
            raise NotFound(f"Memory {ref.label} not found.", GraphErrorCode.MEMORY_NOT_FOUND)
        resolved.append(node)
    return resolved


def memory_label(memory: Memory) -> str:
    """How a path names a node: its coordinate when it has one (old clients), else its id."""
    return memory.coord_key or str(memory.pk)
