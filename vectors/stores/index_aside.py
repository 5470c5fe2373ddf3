"""Building the embedded engine's index, offline (`build_index`) or while serving (`index_aside`).

Writes land in an unindexed segment, which search scans exactly (the scope index keeps the scan
to one tenant's namespace). A build turns it into an indexed one: int8 quantized vectors and,
with hnsw=True (the default), an HNSW graph per scope. While serving, the build runs on a copy in
a child process (vectors/stores/index_child.py) and the copy is swapped in; the writes made
meanwhile are replayed onto it first.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import qdrant_edge as qe

from vectors.stores.base import VectorStoreError
from vectors.stores.edge_shard import EdgeShardStore

INDEX_CHILD = Path(__file__).with_name("index_child.py")


class IndexAsideStore(EdgeShardStore):
    def build_index(self) -> bool:
        """OFFLINE ONLY: build the int8 (and, with hnsw=True, per-scope HNSW) index in this process.

        `optimize()` holds the GIL for its whole run (~4 s at 100k points for the int8
        index, ~16 s with HNSW), freezing every other thread: run it from a management
        command while the server is stopped, never while serving (that is `index_aside`). Points written later
        land in a new unindexed segment (exact scan) until the next build. With hnsw=True
        there is no global graph (m=0): only searches in a scope (tenant and namespace),
        which every API search is, can use the graphs.
        """
        with self._write_lock, self._using("optimize") as shard:
            changed = shard.optimize()
            self._flush_locked(shard)
            self._record_write(self.shard_path, shard.info().points_count)
            self.unindexed = 0
        return changed

    def index_aside(self, *, timeout: float = 3600.0) -> bool:
        """Build the index while serving: optimize a copy of the shard in a child process.

        The engine's optimize() holds the GIL, so this process never runs it: it copies the
        flushed shard (writes wait, ~0.7 s per 100k points), a child process (vectors/stores/
        index_child.py, niced) optimizes the copy while searches and writes go on here, and the
        writes made meanwhile are replayed onto it before it replaces the shard (writes wait
        for the last few). Searches already running finish on the old shard, which is then
        closed and deleted. False when another build runs or the store was recreated or
        closed meanwhile (the copy is discarded). The child builds what the persisted config
        (this store's) asks for: int8 vectors and, with hnsw=True, the per-scope graphs.
        """
        staged = self._index_stage()
        if staged is None:
            return False
        folder, epoch, points, covered = staged
        swapped = False
        try:
            self._index_build(folder, timeout)
            swapped = self._index_swap(folder, epoch, points, covered)
        finally:
            with self._write_lock:
                self._building = None
                if not swapped:
                    self._replay = None
                    shutil.rmtree(folder, ignore_errors=True)
        return swapped

    def _index_stage(self) -> tuple[Path, int, int, int] | None:
        with self._write_lock:
            if self._replay is not None:
                return None
            folder = self.root / f"{self.collection_name}.g{time.time_ns()}"
            with self._using("index copy") as shard:
                self._flush_locked(shard)
                points = shard.info().points_count
                try:
                    shutil.copytree(self.shard_path, folder)
                except OSError as exc:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise VectorStoreError(f"cannot copy the vector store for indexing: {exc}") from exc
            self._replay, self._building = [], folder
            return folder, self._epoch, points, self.unindexed

    def _index_build(self, folder: Path, timeout: float) -> None:
        command = [sys.executable, str(INDEX_CHILD), str(folder)]
        with self._lock:
            if self._closed:
                raise VectorStoreError("vector store is closed")
            self._builder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        builder = self._builder
        try:
            _, stderr = builder.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            builder.kill()
            builder.communicate()
            raise VectorStoreError(f"index build took over {timeout:.0f} s") from exc
        finally:
            with self._lock:
                self._builder = None
        if builder.returncode:
            detail = stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {builder.returncode}"]
            raise VectorStoreError(f"index build failed: {detail[0]}")

    def _index_swap(self, folder: Path, epoch: int, points: int, covered: int) -> bool:
        if self._epoch != epoch:
            return False
        try:
            shard = qe.EdgeShard.load(str(folder), self._config())
        except Exception as exc:
            raise VectorStoreError(f"cannot open the indexed copy {folder}: {exc}") from exc
        try:
            # Catch up with the writes made during the build without holding writers back,
            # then take the lock for the last few.
            done = 0
            while True:
                with self._write_lock:
                    pending = self._replay[done:] if self._replay is not None else []
                if len(pending) < 16:
                    break
                for operation in pending:
                    shard.update(operation)
                done += len(pending)
            with self._write_lock:
                if self._closed or self._epoch != epoch or self._replay is None:
                    shard.close()
                    return False
                for operation in self._replay[done:]:
                    shard.update(operation)
                self._flush_locked(shard)
                self._record_write(folder, points)
                self.unindexed = max(0, self.unindexed - covered)
                with self._lock:
                    old, old_path = self._shard, self.shard_path
                    self._shard, self.shard_path = shard, folder
                    self._forget_results()
                self._replay = None
        except BaseException:
            if self._shard is not shard:
                shard.close()
            raise
        with self._idle:
            self._idle.wait_for(lambda: old is None or id(old) not in self._readers, timeout=60)
            if old is not None:
                old.close()
        shutil.rmtree(old_path, ignore_errors=True)
        return True
