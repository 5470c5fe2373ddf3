"""POST/GET /memories/search: ranked memories from `vectors`, optionally expanded along `graph` links.

Lives in soma_project because it wires two apps together; mounted before the memories router
so that "search" is never read as a memory reference.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Query, Router

from graph.selectors import neighbors_for_many
from memories.filters import parse_filters
from memories.models import Memory
from memories.schemas import ErrorOut
from memories.selectors import memory_context
from soma_project.auth import request_tenant
from soma_project.search_cache import rendered_searches
from vectors.schemas import SearchIn, SearchOut, SearchQueryIn
from vectors.selectors import SearchResult, memory_search, ranked_memories

router = Router(tags=["search"])

ERRORS: dict[int, Any] = dict.fromkeys((400, 401, 403, 413, 422, 429, 503), ErrorOut)


@router.post("/search", response={200: SearchOut, **ERRORS})
def search_post(request: HttpRequest, body: SearchIn) -> dict[str, Any] | HttpResponse:
    return _search(request, body)


@router.get("/search", response={200: SearchOut, **ERRORS})
def search_get(request: HttpRequest, params: Query[SearchQueryIn]) -> dict[str, Any] | HttpResponse:
    return _search(request, params)


def _search(request: HttpRequest, params: SearchIn) -> dict[str, Any] | HttpResponse:
    tenant = request_tenant(request)
    # Without expand_hops or context an answer shows only the ranked rows, so it can be reused
    # while they are unchanged (soma_project.search_cache); linked or neighbouring memories are
    # loaded every time.
    reusable = params.expand_hops == 0 and params.context == 0
    result = memory_search(
        tenant=tenant,
        query=params.query,
        top_k=params.top_k,
        offset=params.offset,
        namespace=params.namespace,
        memory_type=params.memory_type,
        conditions=parse_filters(params.filters),
        mode=params.mode,
        load=not reusable,
    )
    ranked = result.ranked
    if reusable and ranked is not None:
        body = rendered_searches.answer(
            tenant=tenant,
            ranked=ranked,
            load=lambda: ranked_memories(tenant=tenant, ranked=ranked),
            render=lambda hits: _render(request, hits),
        )
        return HttpResponse(body, content_type=_api().get_content_type())
    hits = _hits_out(tenant, result, params.expand_hops)
    if params.context:
        ranked_hits = [hit for hit in hits if hit.via is None]
        around = memory_context(tenant=tenant, memories=[hit.memory for hit in ranked_hits], turns=params.context)
        for hit in ranked_hits:
            hit.context = around.get(hit.memory.pk, [])
    return {"memories": hits, "degraded": result.degraded}


def _render(request: HttpRequest, hits: list[tuple[Memory, float]]) -> bytes:
    """The bytes ninja would send for these ranked hits under the SearchOut contract."""
    out = SearchOut.model_validate({"memories": [_Hit(memory, score) for memory, score in hits], "degraded": False})
    content = _api().renderer.render(request, out.model_dump(), response_status=200)
    return content if isinstance(content, bytes) else content.encode()


def _api() -> NinjaAPI:
    from soma_project.api import api  # it imports this module

    return api


class _Hit:
    """A memory as SearchHitOut reads it: the memory's fields, plus its score and link."""

    def __init__(self, memory: Memory, score: float | None, via: dict[str, Any] | None = None) -> None:
        self.memory, self.score, self.via = memory, score, via
        self.context: list[Memory] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.memory, name)


def _hits_out(tenant: str, result: SearchResult, expand_hops: int) -> list[_Hit]:
    hits = [_Hit(memory, score) for memory, score in result.hits]
    if expand_hops == 0 or not hits:
        return hits
    # The linked memories follow all the hits, grouped by the hit they hang from, best hit first.
    linked = neighbors_for_many(tenant=tenant, memory_ids=[hit.memory.pk for hit in hits], hops=expand_hops)
    for memory, _ in result.hits:
        for neighbor in linked.get(memory.pk, []):
            via = {
                "id": neighbor.origin_id,
                "link_type": neighbor.link_type,
                "strength": neighbor.strength,
                "depth": neighbor.depth,
            }
            hits.append(_Hit(neighbor.node, None, via))  # memories only: see neighbors_for_many
    return hits
