"""Probes and counts: /healthz, /readyz, /health, /stats."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest
from ninja import Router, Schema, Status

from graph.selectors.links import link_count
from memories.schemas import ErrorOut
from memories.selectors import memory_counts
from soma_project.auth import BearerAuth, optional_principal
from vectors.backend import embedder_healthy, vector_store_healthy

router = Router(tags=["operations"])
_STARTED = time.monotonic()
_migrations_applied = False


class LivenessOut(Schema):
    status: str


class ReadinessOut(Schema):
    kv_store: bool
    vector_store: bool
    graph_store: bool
    cache: bool


class ServiceOut(Schema):
    name: str
    healthy: bool
    latency_ms: float


class HealthOut(Schema):
    healthy: bool
    status: str
    version: str
    uptime_seconds: float
    services: list[ServiceOut]
    database: dict[str, int]


class StatsOut(Schema):
    total_memories: int
    episodic: int
    semantic: int
    total_links: int
    vectors_pending: int


def _timed(check: Callable[[], bool]) -> tuple[bool, float]:
    started = time.perf_counter()
    try:
        healthy = bool(check())
    except Exception:
        healthy = False
    return healthy, round((time.perf_counter() - started) * 1000, 2)


def _database_ready() -> bool:
    global _migrations_applied
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not _migrations_applied:
            executor = MigrationExecutor(connection)
            _migrations_applied = not executor.migration_plan(executor.loader.graph.leaf_nodes())
        return _migrations_applied
    except DatabaseError:
        return False


def _cache_ready() -> bool:
    if not settings.REDIS_URL:
        cache.set("soma:readyz", "1", 5)
        return cache.get("soma:readyz") == "1"
    from django_redis import get_redis_connection

    return bool(get_redis_connection("default").ping())


@router.get("/healthz", response={200: LivenessOut, 429: ErrorOut})
def healthz(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response={200: ReadinessOut, 503: ReadinessOut, 429: ErrorOut})
def readyz(request: HttpRequest) -> Status[dict[str, bool]]:
    database = _timed(_database_ready)[0]
    body = {
        "kv_store": database,
        "graph_store": database,
        "vector_store": _timed(vector_store_healthy)[0],
        "cache": _timed(_cache_ready)[0],
    }
    return Status(200 if all(body.values()) else 503, body)


@router.get("/health", response={200: HealthOut, **dict.fromkeys((400, 401, 403, 429), ErrorOut)}, auth=BearerAuth())
def health(request: HttpRequest) -> dict[str, Any]:
    database, database_ms = _timed(_database_ready)
    services = [{"name": "postgresql", "healthy": database, "latency_ms": database_ms}]
    cache_ok, cache_ms = _timed(_cache_ready)
    services.append({"name": "redis" if settings.REDIS_URL else "cache", "healthy": cache_ok, "latency_ms": cache_ms})
    vectors_ok, vectors_ms = _timed(vector_store_healthy)
    services.append({"name": "qdrant", "healthy": vectors_ok, "latency_ms": vectors_ms})
    embedder_ok, embedder_ms = _timed(embedder_healthy)
    services.append({"name": "embedder", "healthy": embedder_ok, "latency_ms": embedder_ms})
    healthy = all(service["healthy"] for service in services)
    counts: dict[str, int] = {}
    if database:
        tenant = request.auth.tenant  # type: ignore[attr-defined]
        memory = memory_counts(tenant=tenant)
        counts = {
            "memories": memory["total"],
            "episodic": memory["episodic"],
            "semantic": memory["semantic"],
            "links": link_count(tenant=tenant),
            "vectors_pending": memory["pending"],
            "vectors_failed": memory["failed"],
        }
    return {
        "healthy": healthy,
        "status": "ok" if healthy else "degraded",
        "version": settings.SOMA_VERSION,
        "uptime_seconds": round(time.monotonic() - _STARTED, 1),
        "services": services,
        "database": counts,
    }


@router.get("/stats", response={200: StatsOut, **dict.fromkeys((400, 401, 403, 429), ErrorOut)})
def stats(request: HttpRequest) -> dict[str, int]:
    """Global totals without a token; the caller's tenant with one."""
    principal = optional_principal(request)
    if principal is None and request.headers.get("Authorization"):
        from ninja.errors import AuthenticationError

        raise AuthenticationError()
    tenant = principal.tenant if principal else None
    counts = memory_counts(tenant=tenant)
    return {
        "total_memories": counts["total"],
        "episodic": counts["episodic"],
        "semantic": counts["semantic"],
        "total_links": link_count(tenant=tenant),
        "vectors_pending": counts["pending"],
    }
