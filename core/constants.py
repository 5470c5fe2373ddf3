"""Limits and vocabularies more than one app speaks (kept Django-free: the vector stores and
the benches import them without settings)."""

from __future__ import annotations

# The comparison operators of a range filter: {"score": {"gte": 0.5, "lt": 2}}.
RANGE_OPS = ("gt", "gte", "lt", "lte")

# How far search's expand_hops and the graph's expansion may walk from a hit.
MAX_EXPAND_HOPS = 2
