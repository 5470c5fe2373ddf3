from __future__ import annotations

from typing import Any

from core.admin import EstimatedCountPaginator
from memories.models import Memory


class MemoryPaginator(EstimatedCountPaginator):
    table = Memory._meta.db_table

    def unfiltered_where(self) -> Any:
        # The default manager's own condition (no bare graph nodes) is no filter of the curator's.
        return Memory.objects.all().query.where
