"""POST/GET /memories/search: ranked memories from `vectors`, optionally expanded along `graph` links.

Lives in soma_project because it wires two apps together; mounted before the memories router
so that "search" is never read as a memory reference.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from core.errors import error_responses
from core.tenancy import request_tenant
from graph.selectors.neighbors import neighbors_for_many
from memories.access import memory_access_record
from memories.filters import parse_filters
from memories.models import Memory
from memories.schemas import MemoryOut
from memories.selectors import memory_context
from soma_project.rendering import CONTENT_TYPE, RENDERER
from soma_project.search_cache import rendered_memories, rendered_searches
from vectors.ranking import ranking_from
from vectors.schemas import SearchIn, SearchOut, SearchQueryIn
from vectors.selectors import SearchResult, memory_search

router = Router(tags=["search"])

ERRORS = error_responses(400, 401, 403, 413, 422, 429, 503)


@router.post("/search", response={200: SearchOut, **ERRORS})
def search_post(request: HttpRequest, body: SearchIn) -> dict[str, Any] | HttpResponse:
    return _search(request, body)


@router.get("/search", response={200: SearchOut, **ERRORS})
def search_get(request: HttpRequest, params: Query[SearchQueryIn]) -> dict[str, Any] | HttpResponse:
    return _search(request, params)


def _search(request: HttpRequest, params: SearchIn) -> dict[str, Any] | HttpResponse:
    tenant = request_tenant(request)
    ranking = ranking_from(
        recency=params.recency_options(),
        importance_weight=params.importance_weight,
        min_score=params.min_score,
        explain=params.explain,
        reference_time=params.reference_time,
    )
    # Without expand_hops or context an answer shows only the ranked rows, so it can be reused
    # while they are unchanged (soma_project.search_cache); linked or neighbouring memories are
    # loaded every time. A re-ranked or explained answer depends on the time as well: rendered
    # anew every time, put together from rendered rows (search_cache.rendered_memories).
    plain = params.expand_hops == 0 and params.context == 0
    reusable = plain and not ranking.active
    assembled = plain and ranking.reorders
    result = memory_search(
        tenant=tenant,
        query=params.query,
        top_k=params.top_k,
        offset=params.offset,
        namespace=params.namespace,
        memory_type=params.memory_type,
        conditions=parse_filters(params.filters),
        mode=params.mode,
        load=not (reusable or assembled),
        ranking=ranking,
    )
    ranked, load = result.ranked, result.load
    if reusable and ranked is not None and load is not None:
        body, shown = rendered_searches.answer(
            tenant=tenant, ranked=ranked, load=load, render=lambda hits: _render(request, hits)
        )
        memory_access_record(ids=shown)
        return HttpResponse(body, content_type=CONTENT_TYPE)
    if assembled and ranked is not None and result.versions is not None:
        body, shown = _assembled(request, tenant, ranked, result.versions, result.details)
        memory_access_record(ids=shown)
        return HttpResponse(body, content_type=CONTENT_TYPE)
    memory_access_record(ids=[memory.pk for memory, _ in result.hits])
    if plain:
        return HttpResponse(
            _render(request, result.hits, degraded=result.degraded, details=result.details),
            content_type=CONTENT_TYPE,
        )
    hits = _hits_out(tenant, result, params.expand_hops)
    if params.context:
        ranked_hits = [hit for hit in hits if hit.via is None]
        around = memory_context(tenant=tenant, memories=[hit.memory for hit in ranked_hits], turns=params.context)
        for hit in ranked_hits:
            hit.context = around.get(hit.memory.pk, [])
    return {"memories": hits, "degraded": result.degraded}


def _render(
    request: HttpRequest,
    hits: list[tuple[Memory, float]],
    *,
    degraded: bool = False,
    details: dict[uuid.UUID, dict[str, Any]] | None = None,
) -> bytes:
    """The bytes ninja would send for these ranked hits under the SearchOut contract."""
    found = [_Hit(memory, score, details=details.get(memory.pk) if details else None) for memory, score in hits]
    out = SearchOut.model_validate({"memories": found, "degraded": degraded})
    content = RENDERER.render(request, out.model_dump(), response_status=200)
    return content if isinstance(content, bytes) else content.encode()


def _assembled(
    request: HttpRequest,
    tenant: str,
    ranked: list[tuple[str, float]],
    versions: dict[uuid.UUID, str],
    details: dict[uuid.UUID, dict[str, Any]] | None,
) -> tuple[bytes, list[uuid.UUID]]:
    """The bytes `_render` would give for these hits, from each memory's rendered fragment:
    SearchHitOut is MemoryOut's fields, then score, via, context and (with explain) score_details."""
    renderer = RENDERER

    def encode(value: Any) -> bytes:
        content = renderer.render(request, value, response_status=200)
        return content if isinstance(content, bytes) else content.encode()

    def render_memory(memory: Memory) -> bytes:
        return encode(MemoryOut.model_validate(memory).model_dump())

    fragments = rendered_memories.fragments(tenant=tenant, versions=versions, render=render_memory)
    parts, shown = [], []
    for memory_id, score in ranked:
        key = uuid.UUID(memory_id)
        fragment = fragments.get(key)
        if fragment is None:
            continue  # gone between the pool's query and the load
        # score_details holds plain floats and None already (vectors.ranking): no model needed.
        tail: dict[str, Any] = {"score": score, "via": None, "context": None}
        if details is not None:
            tail["score_details"] = details[key]
        # Floats, None and str keys only: json.dumps writes them as the API's renderer does.
        parts.append(fragment[:-1] + b", " + json.dumps(tail).encode()[1:])
        shown.append(key)
    return b'{"memories": [' + b", ".join(parts) + b'], "degraded": false}', shown


class _Hit:
    """A memory as SearchHitOut reads it: the memory's fields, plus its score and link."""

    def __init__(
        self,
        memory: Memory,
        score: float | None,
        via: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.memory, self.score, self.via, self.score_details = memory, score, via, details
        self.context: list[Memory] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.memory, name)


def _hits_out(tenant: str, result: SearchResult, expand_hops: int) -> list[_Hit]:
    details = result.details or {}
    hits = [_Hit(memory, score, details=details.get(memory.pk)) for memory, score in result.hits]
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
