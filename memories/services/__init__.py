"""Writes of memories, by sub-domain. Views, the admin and commands translate input and call these.

- `create`: a memory or a batch from drafts (validated by memories.validation), dedupe;
- `upsert`: the one statement that stores the rows of a create, and records their versions;
- `update`: a patch of a stored memory;
- `delete`: a removal, recorded in the history.
"""
