"""The embedded engine's shard under a store: its folder, opening, writes, flush windows, closing.

`EdgeStore` (vectors.stores.edge) adds the searches on top of this, and `IndexAsideStore`
(vectors.stores.index_aside) the index builds; this layer is what both rely on.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from vectors.sparse import SPARSE_VECTOR_NAME
from vectors.stores.base import DEFAULT_DIMENSION, VectorStore, VectorStoreError, engine_errors
from vectors.stores.edge_flush import Flusher, FlushRecord, atomic_write_json, now_window
from vectors.stores.filters import EQ_FIELD, SCOPE_FIELD

# The embedded store keeps its dense vectors as float16: an unindexed search is an exact scan
# that reads every vector of the scope, and half the bytes make it ~1.6x faster at 100k points
# (bench/bench_vectors.py), with scores within ~1e-3 of float32.
EDGE_DATATYPE = qe.VectorStorageDatatype.Float16
# Optimizing a copy of the shard needs no trigger size of the engine's own (default ~10 MB of
# vectors): whatever EdgeStore.index_aside hands it is indexed.
EDGE_INDEXING_THRESHOLD_KB = 1

# enable_hnsw=False: payload_m graphs only per scope (tenant + namespace, what every search
# names), not per tenant, namespace or type as well.
_EDGE_INDEXES: dict[str, Any] = {
    SCOPE_FIELD: qe.KeywordIndexParams(is_tenant=True),
    "tenant": qe.KeywordIndexParams(enable_hnsw=False),
    "namespace": qe.KeywordIndexParams(enable_hnsw=False),
    "memory_type": qe.KeywordIndexParams(enable_hnsw=False),
    "created_ts": qe.FloatIndexParams(enable_hnsw=False),
    EQ_FIELD: qe.KeywordIndexParams(enable_hnsw=False),
}

# The operator's payload indexes (SOMA_VECTOR_INDEXED_KEYS), by kind.
_FIELD_INDEX_PARAMS: dict[str, Callable[[], Any]] = {
    "keyword": lambda: qe.KeywordIndexParams(enable_hnsw=False),
    "integer": lambda: qe.IntegerIndexParams(lookup=True, range=True, enable_hnsw=False),
    "float": lambda: qe.FloatIndexParams(enable_hnsw=False),
    "bool": lambda: qe.BoolIndexParams(enable_hnsw=False),
    "datetime": lambda: qe.DatetimeIndexParams(enable_hnsw=False),
}


class EdgeShardStore(VectorStore):
    """The shard's life under `EdgeStore`, the embedded store to use."""

    def __init__(
        self,
        path: Path,
        *,
        dimension: int = DEFAULT_DIMENSION,
        model_name: str,
        quantization: bool = True,
        hnsw: bool = True,
        flush_interval: float = 0.0,
        max_search_threads: int | None = None,
        datatype: qe.VectorStorageDatatype = EDGE_DATATYPE,
    ) -> None:
        super().__init__(dimension=dimension, model_name=model_name)
        self.root = Path(path)
        self.shard_path = self._current_path(self._record())
        self.datatype = datatype
        self.quantization = quantization
        self.hnsw = hnsw
        # update() only writes the WAL into the page cache (no fsync): enough to survive a
        # killed process, not a power cut. flush() msyncs the WAL and fsyncs the segments
        # (~15-20 ms, holding the GIL): 0 = after every write, else every flush_interval
        # seconds by a thread, the writes in between tracked by flush window (vectors.stores.edge_flush).
        self.flush_interval = flush_interval
        self._flush_record = FlushRecord(self.root / f"{self.collection_name}.flushed.json")
        self._flusher: Flusher | None = None
        self._window = 0  # the current flush window; set when the shard opens
        self._dirty = False  # written to since the last flush
        # (last window on disk, first window of this process): what may have been lost before.
        self.lost_windows = (0, 0)
        self.max_search_threads = max_search_threads
        self._shard: qe.EdgeShard | None = None
        self._closed = False
        self._lock = threading.RLock()
        self._results: OrderedDict[Hashable, list[tuple[str, float]]] = OrderedDict()
        # Bumped by every write: a search that began before it must not cache its answer.
        self._generation = 0
        # Writes hold this around the engine call, so index_aside can take a consistent copy and
        # log every write made while the copy is optimized (replayed onto it before the swap).
        self._write_lock = threading.Lock()
        self._replay: list[qe.UpdateOperation] | None = None
        # Engine calls running per open shard (id): a shard swapped out closes once it has none.
        self._readers: dict[int, int] = {}
        self._idle = threading.Condition(self._lock)
        # Bumped by recreate() and close(): an index built on an older copy is thrown away.
        self._epoch = 0
        self._builder: subprocess.Popen[bytes] | None = None
        self._building: Path | None = None  # the copy being indexed
        # Points written into the unindexed segment since the last index build (an estimate
        # kept by this process; the engine does not report it): see index_aside.
        self.unindexed = 0

    def _config(self) -> qe.EdgeConfig:
        int8 = qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, always_ram=True)
        # m=0: no global graph. Every search names its scope (tenant + namespace), so with
        # hnsw=True payload_m builds one graph per scope instead (Qdrant's multitenancy recipe).
        hnsw = qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000, payload_m=16 * self.hnsw)
        dense = qe.EdgeVectorParams(size=self.dimension, distance=qe.Distance.Cosine, datatype=self.datatype)
        return qe.EdgeConfig(
            vectors=dense,
            sparse_vectors={SPARSE_VECTOR_NAME: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            quantization_config=int8 if self.quantization else None,
            hnsw_config=hnsw,
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=EDGE_INDEXING_THRESHOLD_KB),
            max_search_threads=self.max_search_threads,
        )

    # The shard lives in root/<collection> until index_aside swaps in an optimized copy,
    # root/<collection>.g<n>; root/<collection>.index.json names the current folder and how
    # many points the last index build covered.
    def _record_path(self) -> Path:
        return self.root / f"{self.collection_name}.index.json"

    def _record(self) -> dict[str, Any]:
        try:
            record = json.loads(self._record_path().read_text())
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def _current_path(self, record: dict[str, Any]) -> Path:
        folder = str(record.get("folder", ""))
        if folder.startswith(f"{self.collection_name}.g") and "/" not in folder and (self.root / folder).is_dir():
            return self.root / folder
        return self.root / self.collection_name

    def _record_write(self, folder: Path, indexed_points: int) -> None:
        atomic_write_json(self._record_path(), {"folder": folder.name, "indexed_points": indexed_points})

    def _remove_stale_folders(self) -> None:
        """Copies left by an index build that never swapped in, and the folder it replaced."""
        for candidate in [self.root / self.collection_name, *self.root.glob(f"{self.collection_name}.g*")]:
            if candidate not in (self.shard_path, self._building) and candidate.is_dir():
                shutil.rmtree(candidate, ignore_errors=True)

    def _open(self) -> qe.EdgeShard:
        with self._lock:
            if self._closed:
                raise VectorStoreError("vector store is closed")
            if self._shard is not None:
                return self._shard
            record = self._record()
            self.shard_path = self._current_path(record)
            path = str(self.shard_path)
            try:
                if (self.shard_path / "segments").is_dir():
                    shard = qe.EdgeShard.load(path, self._config())
                else:
                    shard = qe.EdgeShard.create(path, self._config())
                info = shard.info()
                for name, params in _EDGE_INDEXES.items():
                    if name not in info.payload_schema:
                        shard.update(qe.UpdateOperation.create_field_index(name, params))
            except Exception as exc:
                locked = " (locked by another process?)" * ("WouldBlock" in str(exc))
                raise VectorStoreError(f"cannot open {path}{locked}: {exc}") from exc
            # The folder is ours now (the engine locks it): nothing else can be using the others.
            self._remove_stale_folders()
            built = record.get("indexed_points") if record.get("folder") == self.shard_path.name else None
            self.unindexed = max(0, info.points_count - int(built or 0))
            durable = self._flush_record.read()
            self._window = max(durable + 1, now_window(), self._window + 1)
            self.lost_windows = (durable, self._window)
            if self.flush_interval > 0 and self._flusher is None:
                self._flusher = Flusher(interval=self.flush_interval, flush=self.flush)
            self._shard = shard
            return shard

    @contextlib.contextmanager
    def _using(self, action: str) -> Iterator[qe.EdgeShard]:
        with self._lock:
            shard = self._open()
            self._readers[id(shard)] = self._readers.get(id(shard), 0) + 1
        try:
            with engine_errors(action):
                yield shard
        finally:
            with self._lock:
                left = self._readers.pop(id(shard)) - 1
                if left:
                    self._readers[id(shard)] = left
                else:
                    self._idle.notify_all()

    def ensure_collection(self) -> None:
        self._open()

    def _forget_results(self) -> None:
        with self._lock:
            self._generation += 1
            self._results.clear()

    def _write(self, action: str, operation: qe.UpdateOperation, *, points: int = 0) -> int:
        """Returns the write's flush window (0: flushed already, flush_interval 0)."""
        self._forget_results()
        with self._write_lock, self._using(action) as shard:
            shard.update(operation)
            self._forget_results()
            if self._replay is not None:
                self._replay.append(operation)
            self.unindexed += points
            if self.flush_interval <= 0:
                shard.flush()
                return 0
            self._dirty = True
            return self._window

    def _window_close(self) -> int:
        """Under the write lock: end the current window; the caller flushes, then records it."""
        window = self._window
        self._window = max(window + 1, now_window())
        self._dirty = False
        return window

    def flush(self) -> bool:
        """Make every write so far durable and record its window (the flusher thread calls this);
        False when there was nothing to flush."""
        with self._write_lock:
            if not self._dirty or self._closed:
                return False
            window = self._window_close()
        try:
            with self._using("flush") as shard:
                shard.flush()
        except BaseException:
            with self._write_lock:
                self._dirty = True
            raise
        self._flush_record.write(window)
        return True

    def _flush_locked(self, shard: qe.EdgeShard) -> None:
        """Under the write lock: flush `shard` (which holds every write) and record the window."""
        dirty, window = self._dirty, self._window_close()
        shard.flush()
        if dirty:
            self._flush_record.write(window)

    def _field_indexes_create(self, wanted: dict[str, str]) -> list[str]:
        with self._using("create field index") as shard:
            existing = set(shard.info().payload_schema)
        created = [name for name in wanted if name not in existing]
        for name in created:
            params = _FIELD_INDEX_PARAMS[wanted[name]]()
            self._write("create field index", qe.UpdateOperation.create_field_index(name, params))
        return created

    def recreate(self) -> None:
        with self._write_lock, self._lock:
            self._epoch += 1
            self._forget_results()
            self._close_shard()
            shutil.rmtree(self.shard_path, ignore_errors=True)
            self._record_path().unlink(missing_ok=True)
            self._open()

    def healthy(self) -> bool:
        try:
            self.info()
        except VectorStoreError:
            return False
        return True

    def info(self) -> dict[str, int | str]:
        with self._using("info") as shard:
            info = shard.info()
        return {
            "points": info.points_count,
            "indexed_vectors": info.indexed_vectors_count,
            "segments": info.segments_count,
            "unindexed": min(self.unindexed, info.points_count),
            "datatype": str(self.datatype).rpartition(".")[2].lower(),
        }

    def _close_shard(self) -> None:
        shard, self._shard = self._shard, None
        if shard is not None:
            try:
                self._flush_locked(shard)
            finally:
                shard.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._epoch += 1
            if self._builder is not None:
                self._builder.kill()
            flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.stop()
        with self._write_lock, self._lock, engine_errors("close"):
            self._close_shard()
