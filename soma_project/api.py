"""The one NinjaAPI: routers of every app, auth, and the error shape."""

from __future__ import annotations

from django.conf import settings
from ninja import NinjaAPI

from core.jsonrules import StrictJsonParser
from graph.api import router as graph_router
from memories.api import router as memories_router
from soma_project.auth import BearerAuth
from soma_project.errors import install_exception_handlers
from soma_project.ops import router as ops_router
from soma_project.rendering import RENDERER
from soma_project.search_api import router as search_router
from soma_project.throttling import ClientIpRateThrottle, PrincipalRateThrottle

api = NinjaAPI(
    title="SomaFractalMemory",
    version=settings.SOMA_VERSION,
    description="Long-term memory for AI agents: memories, semantic search and a memory graph.",
    parser=StrictJsonParser(),
    renderer=RENDERER,
    urls_namespace="api",
)
install_exception_handlers(api)

# Public probes are limited per client address; authenticated routes per API key (or tenant
# for the master token), counted after authentication.
api.add_router("", ops_router, throttle=ClientIpRateThrottle())
# The search routes must precede /memories/{ref}, or "search" would be read as a reference.
api.add_router("/memories", search_router, auth=BearerAuth(), throttle=PrincipalRateThrottle())
api.add_router("/memories", memories_router, auth=BearerAuth(), throttle=PrincipalRateThrottle())
api.add_router("/graph", graph_router, auth=BearerAuth(), throttle=PrincipalRateThrottle())
