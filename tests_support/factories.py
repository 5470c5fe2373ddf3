"""What the tests build, in one place: memories and links (as rows, or through the services),
points for the vector stores, and API keys of a live server.

A top-level package of its own, outside the apps' import contracts: it imports every app, and
the tests of every app import it (in `soma_project/tests` it would close a cycle through
`soma_project.agents`). The fixtures that hand these out (`make_memory`, `make_graph`, ...)
stay in each app's conftest.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import factory
import numpy as np
from factory.django import DjangoModelFactory

from graph.models import Link
from graph.selectors.nodes import MemoryRef
from graph.services import link_upsert
from memories.models import Memory
from memories.services.create import MemoryDraft, memory_batch_upsert, memory_upsert
from vectors.embedding import MODEL_NAME
from vectors.sparse import bm25_document
from vectors.stores.base import VectorPoint
from vectors.stores.edge import EdgeStore

if TYPE_CHECKING:
    from reliability.processes import LiveServer

# --- memories and links as rows (factory_boy) ----------------------------------------------------


def _key(values: list[float] | None) -> str | None:
    return ",".join(repr(float(v)) for v in values) if values else None


class MemoryFactory(DjangoModelFactory):
    class Meta:
        model = Memory

    tenant = "default"
    namespace = "default"
    coordinate = factory.Sequence(lambda n: [float(n), 0.5])
    coord_key = factory.LazyAttribute(lambda o: _key(o.coordinate))
    payload = factory.LazyAttribute(lambda o: {"content": f"memory at {o.coord_key}"})
    text = factory.LazyAttribute(lambda o: o.payload["content"])


class LinkFactory(DjangoModelFactory):
    class Meta:
        model = Link

    source = factory.SubFactory(MemoryFactory)
    target = factory.SubFactory(MemoryFactory, tenant=factory.SelfAttribute("..source.tenant"))
    tenant = factory.LazyAttribute(lambda o: o.source.tenant)
    link_type = "related"
    strength = 1.0


def memory_row(text: str, **fields: Any) -> Memory:
    """A stored memory with the given text, written past the services (no history, no signal work)."""
    return Memory.objects.create(payload={"content": text}, text=text, **fields)


# --- memories and links through the services -----------------------------------------------------


def memory_upserted(
    payload: dict[str, Any] | None = None, *, tenant: str = "acme", namespace: str = "default", **fields: Any
) -> Memory:
    """A memory stored by `memory_upsert`, as the API and the console store one (history included)."""
    draft = MemoryDraft(payload=payload or {"content": "a memory"}, namespace=namespace, **fields)
    memory, _ = memory_upsert(tenant=tenant, draft=draft)
    return memory


def link_upserted(source: Memory, target: Memory, link_type: str = "related", strength: float = 1.0) -> None:
    """A link stored by `link_upsert`, in the source's tenant."""
    link_upsert(
        tenant=source.tenant,
        source=MemoryRef(id=source.pk),
        target=MemoryRef(id=target.pk),
        link_type=link_type,
        strength=strength,
    )


def stored(*texts: str, tenant: str = "default", namespace: str = "default") -> list[Memory]:
    """Memories written without running the after-commit indexing: they stay pending."""
    drafts = [MemoryDraft(payload={"content": text}, namespace=namespace) for text in texts]
    ids = [result.memory_id for result in memory_batch_upsert(tenant=tenant, drafts=drafts)]
    by_id = Memory.objects.in_bulk(ids)
    return [by_id[memory_id] for memory_id in ids]


def statuses() -> dict[str, str]:
    return dict(Memory.objects.values_list("text", "vector_status"))


# --- points for the vector stores ----------------------------------------------------------------

DIM = 384
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Cond:
    """A filter condition as the stores take it (memories.filters builds them from a request)."""

    key: str
    op: str
    value: Any


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def near(vector: np.ndarray, noise: float, seed: int) -> np.ndarray:
    moved = vector + noise * unit(seed)
    return moved / np.linalg.norm(moved)


def pid(seed: int) -> str:
    """The id of `point(seed)`."""
    return str(uuid.UUID(int=seed + 1))


def point(
    seed: int,
    *,
    tenant: str = "acme",
    namespace: str = "default",
    memory_type: str = "episodic",
    created: datetime = T0,
    payload: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    vector: np.ndarray | None = None,
    text: str | None = None,
) -> VectorPoint:
    """A point of vector `unit(seed)` (or `vector`); with `text`, its BM25 sparse vector too."""
    return VectorPoint(
        id=pid(seed),
        # The stores take any float sequence; an ndarray is one at run time, not to the type checker.
        vector=cast(Sequence[float], unit(seed) if vector is None else vector),
        tenant=tenant,
        namespace=namespace,
        memory_type=memory_type,
        created_ts=created.timestamp(),
        payload=payload or {},
        metadata=metadata or {},
        sparse=bm25_document(text) if text is not None else None,
    )


def ids_of(hits: list[tuple[str, float]]) -> list[str]:
    return [hit_id for hit_id, _ in hits]


# The query the points of `filled` are ranked around.
QUERY = unit(4242)


def filled(root: Path, count: int = 300) -> EdgeStore:
    """An embedded store of `count` points, all unindexed, at distances from QUERY that grow with their seed."""
    store = EdgeStore(root, model_name=MODEL_NAME)
    store.upsert([point(i, vector=near(QUERY, 0.1 + i / 100, i)) for i in range(count)])
    return store


def quantized_segments(store: EdgeStore) -> list[Path]:
    """Segments holding int8 vectors: only an index build writes them."""
    return list(store.shard_path.glob("segments/*/vector_storage/quantized.data"))


# --- a live server's API keys --------------------------------------------------------------------


def api_key(server: LiveServer, tenant: str) -> str:
    """A new API key of `tenant`, made by the server's own `create_api_key` command."""
    return server.manage("create_api_key", "--tenant", tenant).stdout.decode().strip()
