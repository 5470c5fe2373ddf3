"""The API's one JSON renderer: the NinjaAPI renders with it, and the search routes that write
their bytes themselves (soma_project.search_api) use the same one, so both render alike."""

from __future__ import annotations

from ninja.renderers import JSONRenderer

RENDERER = JSONRenderer()
CONTENT_TYPE = f"{RENDERER.media_type}; charset={RENDERER.charset}"
