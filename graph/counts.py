"""Link counts for /stats and /health: what a reader can see."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from graph.models import Link
from memories.models import Memory


def link_count(*, tenant: str | None = None, now: datetime | None = None) -> int:
    """Links whose two ends are visible: a link that touches an expired memory (not purged yet)
    is gone as the memory is (issue 18: invisible to stats, as if deleted)."""
    links = Link.objects.all() if tenant is None else Link.objects.for_tenant(tenant)
    # The few expired rows, through the partial index memory_expiry; bare nodes never expire.
    expired = Memory.with_nodes.expired(now)
    if tenant is not None:
        expired = expired.for_tenant(tenant)
    ids = expired.values("pk")
    return links.exclude(Q(source__in=ids) | Q(target__in=ids)).count()
