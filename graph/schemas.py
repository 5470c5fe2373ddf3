from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ninja import Field, Schema

from core.jsonrules import StrictNumber
from core.tenancy import NAME_REGEX
from graph.models import Link
from graph.selectors.traversal import MAX_HOPS, MAX_NEIGHBORS, MAX_PATH_LENGTH, Direction
from graph.validation import LINK_TYPE_PATTERN
from memories.schemas import MemoryOut

COORD_HELP = "'1.0,2.0,3.0' or a list of 1-16 numbers"


class LinkIdentityIn(Schema):
    from_coord: str | list[StrictNumber] | None = Field(None, description=COORD_HELP)
    from_id: uuid.UUID | None = None
    to_coord: str | list[StrictNumber] | None = Field(None, description=COORD_HELP)
    to_id: uuid.UUID | None = None
    namespace: str = Field("default", pattern=NAME_REGEX, description="Where coordinates are looked up")
    link_type: str = Field("related", pattern=LINK_TYPE_PATTERN)


class LinkIn(LinkIdentityIn):
    strength: float | None = Field(
        None, allow_inf_nan=False, strict=True, description="Default 1.0; kept when omitted on update"
    )
    metadata: dict[str, Any] | None = Field(None, description="Replaced when given")


class LinkDeleteQuery(Schema):
    from_coord: str | None = Field(None, description=COORD_HELP)
    from_id: uuid.UUID | None = None
    to_coord: str | None = Field(None, description=COORD_HELP)
    to_id: uuid.UUID | None = None
    namespace: str = Field("default", pattern=NAME_REGEX)
    link_type: str = Field("related", pattern=LINK_TYPE_PATTERN)


class LinkOut(Schema):
    id: int
    from_id: uuid.UUID
    to_id: uuid.UUID
    from_coord: str | None
    to_coord: str | None
    link_type: str
    strength: float
    metadata: dict[str, Any]
    created_at: datetime

    @staticmethod
    def resolve_from_id(obj: Link) -> uuid.UUID:
        return obj.source_id

    @staticmethod
    def resolve_to_id(obj: Link) -> uuid.UUID:
        return obj.target_id

    @staticmethod
    def resolve_from_coord(obj: Link) -> str | None:
        return obj.source.coord_key

    @staticmethod
    def resolve_to_coord(obj: Link) -> str | None:
        return obj.target.coord_key


class LinkSavedOut(Schema):
    link: LinkOut
    ok: bool
    created: bool
    # What the earlier service answered, kept for its clients.
    from_coord: str | None
    to_coord: str | None
    link_type: str


class LinkDeletedOut(Schema):
    deleted: bool
    from_id: uuid.UUID
    to_id: uuid.UUID
    from_coord: str | None
    to_coord: str | None
    link_type: str


class LinksQuery(Schema):
    ref: str = Field(..., max_length=600, description="A memory id or coordinate")
    namespace: str | None = Field(None, pattern=NAME_REGEX)
    direction: Direction = "both"
    link_type: str | None = Field(None, pattern=LINK_TYPE_PATTERN)
    limit: int = Field(1000, ge=1, le=1000)
    cursor: str | None = Field(None, max_length=20)


class LinkListOut(Schema):
    links: list[LinkOut]
    next_cursor: str | None


class NeighborsQuery(Schema):
    coord: str | None = Field(None, max_length=600, description=COORD_HELP)
    id: uuid.UUID | None = None
    namespace: str = Field("default", pattern=NAME_REGEX, description="Where `coord` is looked up")
    k_hop: int = Field(1, ge=1, le=MAX_HOPS)
    limit: int = Field(10, ge=1, le=MAX_NEIGHBORS)
    offset: int = Field(0, ge=0, le=10_000 - MAX_NEIGHBORS)
    link_type: str | None = Field(None, pattern=LINK_TYPE_PATTERN)
    direction: Direction = "out"


class NeighborOut(Schema):
    id: uuid.UUID = Field(
        ..., description="The node's id: the memory's, or a bare coordinate's (kept by a memory stored there later)"
    )
    coord: str | None
    coordinate: list[float] | None
    depth: int
    link_type: str
    strength: float
    via_id: uuid.UUID = Field(..., description="The node at the other end of the link that reached it")
    memory: MemoryOut | None = Field(..., description="Null where no memory is stored at that coordinate")


class NeighborsOut(Schema):
    coord: str | None
    id: uuid.UUID | None = Field(
        ..., description="Null when the coordinate is no node (nothing stored, nothing linked)"
    )
    neighbors: list[NeighborOut]


class PathQuery(Schema):
    from_coord: str | None = Field(None, max_length=600, description=COORD_HELP)
    from_id: uuid.UUID | None = None
    to_coord: str | None = Field(None, max_length=600, description=COORD_HELP)
    to_id: uuid.UUID | None = None
    namespace: str = Field("default", pattern=NAME_REGEX)
    max_length: int = Field(10, ge=1, le=MAX_PATH_LENGTH)
    link_type: str | None = Field(None, pattern=LINK_TYPE_PATTERN)
    direction: Direction = "out"


class PathOut(Schema):
    found: bool
    path: list[str] = Field(..., description="Each node on the path: its coordinate, or its id when it has none")
    ids: list[uuid.UUID]
    link_types: list[str]
    length: int
    from_coord: str | None
    to_coord: str | None
