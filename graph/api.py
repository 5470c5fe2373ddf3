from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router
from ninja.errors import ValidationError
from pydantic import ValidationError as PydanticValidationError

from core.errors import ErrorCode, InvalidInput, error_responses
from core.jsonrules import StrictJsonParser
from core.tenancy import request_tenant
from graph import services
from graph.schemas import (
    LinkDeletedOut,
    LinkDeleteQuery,
    LinkIdentityIn,
    LinkIn,
    LinkListOut,
    LinkSavedOut,
    LinksQuery,
    NeighborsOut,
    NeighborsQuery,
    PathOut,
    PathQuery,
)
from graph.selectors.links import links_list
from graph.selectors.neighbors import neighbors_find
from graph.selectors.nodes import MemoryRef, memory_label, nodes_resolve
from graph.selectors.paths import path_find

router = Router(tags=["graph"])

ERRORS = error_responses(400, 401, 403, 404, 413, 422, 429, 503)


def _ends(identity: LinkIdentityIn | LinkDeleteQuery | PathQuery) -> tuple[MemoryRef, MemoryRef]:
    source = MemoryRef.of(id=identity.from_id, coord=identity.from_coord, namespace=identity.namespace, side="from")
    target = MemoryRef.of(id=identity.to_id, coord=identity.to_coord, namespace=identity.namespace, side="to")
    return source, target


@router.post("/link", response={200: LinkSavedOut, **ERRORS})
def create_link(request: HttpRequest, body: LinkIn) -> dict[str, Any]:
    """200 whether new or existing (strength/metadata updated with what is given); `created` tells which.

    A coordinate is a node whether or not a memory is stored there, so linking coordinates never 404s.
    """
    source, target = _ends(body)
    result = services.link_upsert(
        tenant=request_tenant(request),
        source=source,
        target=target,
        link_type=body.link_type,
        strength=body.strength,
        metadata=body.metadata,
    )
    link = result.link
    return {
        "link": link,
        "ok": True,
        "created": result.created,
        "from_coord": link.source.coord_key,
        "to_coord": link.target.coord_key,
        "link_type": link.link_type,
    }


@router.delete("/link", response={200: LinkDeletedOut, **ERRORS})
def delete_link(request: HttpRequest, query: Query[LinkDeleteQuery]) -> dict[str, Any]:
    """The link's identity in the query string, or (as earlier clients send it) in a JSON body."""
    identity: LinkIdentityIn | LinkDeleteQuery = query
    if request.body.strip():
        try:
            data = StrictJsonParser().parse_body(request)
        except ValueError:
            raise InvalidInput("Request body is not valid JSON.", ErrorCode.INVALID_JSON) from None
        try:
            identity = LinkIdentityIn.model_validate({**query.model_dump(exclude_unset=True), **data})
        except (PydanticValidationError, TypeError) as exc:
            errors = exc.errors() if isinstance(exc, PydanticValidationError) else [{"msg": str(exc)}]
            raise ValidationError([{**e, "loc": ["body", *e.get("loc", ())]} for e in errors]) from None
    source, target = _ends(identity)
    deleted = services.link_delete(
        tenant=request_tenant(request), source=source, target=target, link_type=identity.link_type
    )
    return {
        "deleted": True,
        "from_id": deleted.source.pk,
        "to_id": deleted.target.pk,
        "from_coord": deleted.source.coord_key,
        "to_coord": deleted.target.coord_key,
        "link_type": deleted.link_type,
    }


@router.get("/links", response={200: LinkListOut, **ERRORS})
def list_links(request: HttpRequest, query: Query[LinksQuery]) -> dict[str, Any]:
    """A coordinate that is no node has no links: 200 and `[]`."""
    tenant = request_tenant(request)
    (node,) = nodes_resolve(tenant=tenant, refs=[MemoryRef.parse(query.ref, namespace=query.namespace)])
    if node is None:
        return {"links": [], "next_cursor": None}
    page = links_list(
        tenant=tenant,
        memory=node,
        direction=query.direction,
        link_type=query.link_type,
        limit=query.limit,
        cursor=query.cursor,
    )
    return {"links": page.links, "next_cursor": page.next_cursor}


@router.get("/neighbors", response={200: NeighborsOut, **ERRORS})
def neighbors(request: HttpRequest, query: Query[NeighborsQuery]) -> dict[str, Any]:
    """Nearest first; `memory` is null for a coordinate where no memory is stored. No node: `[]`."""
    tenant = request_tenant(request)
    ref = MemoryRef.of(id=query.id, coord=query.coord, namespace=query.namespace, side="")
    (start,) = nodes_resolve(tenant=tenant, refs=[ref])
    if start is None:
        return {"coord": ref.coord_key, "id": None, "neighbors": []}
    found = neighbors_find(
        tenant=tenant,
        start=start,
        hops=query.k_hop,
        limit=query.limit,
        offset=query.offset,
        direction=query.direction,
        link_type=query.link_type,
    )
    return {
        "coord": start.coord_key,
        "id": start.pk,
        "neighbors": [
            {
                "id": neighbor.id,
                "coord": neighbor.node.coord_key,
                "coordinate": neighbor.node.coordinate,
                "depth": neighbor.depth,
                "link_type": neighbor.link_type,
                "strength": neighbor.strength,
                "via_id": neighbor.via_id,
                "memory": neighbor.memory,
            }
            for neighbor in found
        ],
    }


@router.get("/path", response={200: PathOut, **ERRORS})
def path(request: HttpRequest, query: Query[PathQuery]) -> dict[str, Any]:
    """A shortest path; `found: false` (still 200) when none is at most `max_length` links long,
    or when an end is a coordinate that is no node at all."""
    tenant = request_tenant(request)
    source_ref, target_ref = _ends(query)
    source, target = nodes_resolve(tenant=tenant, refs=[source_ref, target_ref])
    found = None
    if source is not None and target is not None:
        found = path_find(
            tenant=tenant,
            source=source,
            target=target,
            max_length=query.max_length,
            direction=query.direction,
            link_type=query.link_type,
        )
    nodes = found.nodes if found else []
    return {
        "found": found is not None,
        "path": [memory_label(node) for node in nodes],
        "ids": [node.pk for node in nodes],
        "link_types": found.link_types if found else [],
        "length": found.length if found else 0,
        "from_coord": source.coord_key if source is not None else source_ref.coord_key,
        "to_coord": target.coord_key if target is not None else target_ref.coord_key,
    }
