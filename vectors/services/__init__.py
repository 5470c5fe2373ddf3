"""Writes to the vector store, by sub-domain: `indexing`, `maintenance` (reindex, the sweep,
check/fix, recovery) and `drift` (what `vectors_check` reports). Import from the modules."""
