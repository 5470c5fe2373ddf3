from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator

from console.selectors import memory_table_estimate
from memories.models import Memory

# Below this an exact count(*) is cheap, and small tables (and tests) get exact numbers.
EXACT_COUNT_BELOW = 20_000


class EstimatedCountPaginator(Paginator):
    """The unfiltered changelist counts with the planner's estimate: count(*) reads every row.

    Filtered and searched lists keep the exact count, which their WHERE clause keeps bounded.
    """

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        # The default manager's own condition (no bare graph nodes) is no filter of the curator's.
        if query is not None and (not query.where or query.where == Memory.objects.all().query.where):
            estimate = memory_table_estimate()
            if estimate is not None and estimate >= EXACT_COUNT_BELOW:
                return estimate
        return super().count
