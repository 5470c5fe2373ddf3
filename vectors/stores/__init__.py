"""The vector stores: one interface (`base`), the embedded engine (`edge`) and a Qdrant server (`client`).

- `base`: `VectorStore`, `VectorPoint`, `VectorStoreError`, the collection's name.
- `filters`: search filters in Qdrant's JSON filter language, shared by both stores.
- `edge`: `EdgeStore`, the engine in-process, built in layers: `edge_shard` (the shard's folder,
  writes and closing), `edge_flush` (flush windows), `index_aside` (index builds, the child
  process `index_child.py`), `edge` (the searches).
- `client`: `ClientStore`, against a Qdrant server (or qdrant-client's local mode, in tests).

Import from the modules; this package re-exports nothing, so no store module imports another
through it.
"""
