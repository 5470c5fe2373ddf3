"""Graph reads (PostgreSQL only)."""

from __future__ import annotations


def link_count(*, tenant: str | None = None) -> int:
    from graph.models import Link

    queryset = Link.objects.all() if tenant is None else Link.objects.filter(tenant=tenant)
    return queryset.count()
