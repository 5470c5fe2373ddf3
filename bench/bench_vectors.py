"""Embedder and embedded vector store (qdrant-edge-py) figures.

    .venv/bin/python bench/bench_vectors.py [--points 100000] [--tenants 100] [--hnsw]

Embedder, the packaged model (float32 matrix products) and its int8 build: texts/s one text
per call and in batches of 32 (SciFact claims, titles and abstracts from the BEIR SciFact set, see bench/README.md
when present, generated sentences otherwise), the reference pair, and how far the two agree.
EdgeStore: upsert/s of random unit vectors, search p50/p99 with and without a tenant
filter, before and after `build_index()` (int8 quantization + rescoring), reopen time, RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import benchdata_dir

from vectors.embedding import DIMENSION, MODEL_NAME, Embedder
from vectors.stores.base import VectorPoint
from vectors.stores.edge import EdgeStore

SCIFACT = benchdata_dir("scifact")


def rss_mb() -> str:
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return f"RSS {int(fields['VmRSS'].split()[0]) // 1024} MB (peak {int(fields['VmHWM'].split()[0]) // 1024} MB)"


def percentiles(samples: list[float]) -> str:
    ms = np.array(samples) * 1000
    return f"p50 {np.percentile(ms, 50):7.2f} ms   p99 {np.percentile(ms, 99):7.2f} ms"


def load_texts() -> tuple[list[str], list[str]]:
    if (SCIFACT / "queries.jsonl").exists():
        with (SCIFACT / "queries.jsonl").open() as fh:
            claims = [json.loads(line)["text"] for line in fh]
        with (SCIFACT / "corpus.jsonl").open() as fh:
            docs = [json.loads(line) for line, _ in zip(fh, range(600), strict=False)]
        sentences = claims + [d["title"] for d in docs]
        abstracts = [d["text"] for d in docs[:256]]
        return sentences, abstracts
    words = ["memory", "agent", "user", "prefers", "coffee", "meeting", "project", "deadline", "report", "travel"]
    rng = np.random.default_rng(0)
    sentences = [" ".join(rng.choice(words, size=rng.integers(6, 20))) for _ in range(900)]
    return sentences, [" ".join(sentences[i : i + 12]) for i in range(0, 900, 4)][:256]


def bench_embedder() -> None:
    """The packaged model (float32 matrix products) and its int8 build, on the same texts."""
    sentences, abstracts = load_texts()
    vectors: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="bench-models-") as models:
        for label, quantize_into in (("float32", None), ("int8", Path(models))):
            started = time.perf_counter()
            embedder = Embedder(quantize_into=quantize_into)
            print(
                f"[{label}] embedder load {time.perf_counter() - started:.2f} s (int8: includes the build)   {rss_mb()}"
            )
            embedder.embed(sentences[:8])  # warm-up
            a, b = embedder.embed(["A man is eating food.", "A man is eating a piece of bread."])
            print(f"[{label}] reference pair cosine {float(a @ b):.4f} (sentence-transformers: 0.755)")

            started = time.perf_counter()
            for text in sentences[:300]:
                embedder.embed([text])
            per_text = (time.perf_counter() - started) / 300
            print(
                f"[{label}] embed single      {1 / per_text:7.1f} texts/s  ({per_text * 1000:.1f} ms/text, sentences)"
            )
            for kind, texts in (("sentences", sentences), ("abstracts", abstracts)):
                started = time.perf_counter()
                embedded = embedder.embed(texts, batch_size=32)
                rate = len(texts) / (time.perf_counter() - started)
                print(f"[{label}] embed batch-32    {rate:7.1f} texts/s  ({kind}, n={len(texts)})")
                if kind == "sentences":
                    vectors[label] = embedded
    agreement = np.sum(vectors["float32"] * vectors["int8"], axis=1)
    print(
        f"int8 vs float32 cosine: mean {agreement.mean():.4f}, min {agreement.min():.4f} over {len(agreement)} sentences"
    )
    print(f"after embedders   {rss_mb()}")


def random_units(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def timed_queries(run: Callable[[np.ndarray], object], queries: np.ndarray) -> list[float]:
    samples = []
    for query in queries:
        started = time.perf_counter()
        run(query)
        samples.append(time.perf_counter() - started)
    return samples


def bench_store(root: Path, *, points: int, tenants: int, hnsw: bool) -> None:
    vectors = random_units(points, seed=1)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(points)]
    store = EdgeStore(root, model_name=MODEL_NAME, hnsw=hnsw)
    store.ensure_collection()

    started = time.perf_counter()
    batch = 256
    for start in range(0, points, batch):
        store.upsert(
            [
                VectorPoint(ids[i], vectors[i], f"t{i % tenants}", "default", "episodic", float(i), {}, {"n": i})
                for i in range(start, min(points, start + batch))
            ]
        )
    elapsed = time.perf_counter() - started
    print(f"upsert            {points / elapsed:9.0f} points/s  ({points:,} points, batches of {batch}, flushed)")

    singles, single_ids = [], [str(uuid.uuid4()) for _ in range(50)]
    for i, point_id in enumerate(single_ids):
        point = VectorPoint(point_id, random_units(1, 10_000 + i)[0], "single", "default", "episodic", 0.0)
        started = time.perf_counter()
        store.upsert([point])
        singles.append(time.perf_counter() - started)
    print(f"upsert one point  {percentiles(singles)}  (update + flush)")
    store.delete(single_ids)
    print(f"after upsert      {rss_mb()}")

    queries = random_units(100, seed=2)
    probe = 7 % tenants  # the tenant the filtered searches ask for
    tenant_vectors = vectors[np.arange(points) % tenants == probe]
    truth_all = [set(np.argsort(-(vectors @ q))[:10]) for q in queries[:30]]
    truth_tenant = [set(np.argsort(-(tenant_vectors @ q))[:10]) for q in queries[:30]]

    def everything(q: np.ndarray) -> list[tuple[str, float]]:
        # The public search is always tenant-scoped; this is the whole-collection scan.
        return store._query(q.tolist(), [], limit=10, offset=0)

    def one_tenant(q: np.ndarray) -> list[tuple[str, float]]:
        return store.search(q, tenant=f"t{probe}", namespace="default", limit=10)

    def tenant_and_metadata(q: np.ndarray) -> list[tuple[str, float]]:
        return store.search(
            q, tenant=f"t{probe}", namespace="default", conditions=[_Cond("n", "gte", points // 2)], limit=10
        )

    def recall(run: Callable[[np.ndarray], list[tuple[str, float]]], truth: list[set[int]], pool: list[str]) -> float:
        position = {point_id: i for i, point_id in enumerate(pool)}
        found = [{position[hit] for hit, _ in run(q)} & t for q, t in zip(queries[:30], truth, strict=True)]
        return float(np.mean([len(f) / 10 for f in found]))

    tenant_ids = [ids[i] for i in range(points) if i % tenants == probe]

    def report(stage: str) -> None:
        for label, run in (
            ("no filter (all points)", everything),
            (f"tenant filter (1/{tenants})", one_tenant),
            ("tenant + metadata range", tenant_and_metadata),
        ):
            run(queries[0])
            print(f"search {stage:<9} {label:<26} {percentiles(timed_queries(run, queries))}")
        print(
            f"recall@10 {stage:<9} no filter {recall(everything, truth_all, ids):.3f}   "
            f"tenant {recall(one_tenant, truth_tenant, tenant_ids):.3f}"
        )

    report("scan")
    store.close()

    started = time.perf_counter()
    store = EdgeStore(root, model_name=MODEL_NAME, hnsw=hnsw)
    store.ensure_collection()
    print(f"reopen            {time.perf_counter() - started:.2f} s  count={store.count():,}")

    started = time.perf_counter()
    store.build_index()
    label = "int8 + HNSW per tenant and namespace" if hnsw else "int8 quantization only"
    print(f"build_index       {time.perf_counter() - started:.1f} s  ({label}; offline only: holds the GIL)")
    print(f"info              {store.info()}")
    report("indexed")
    print(f"after search      {rss_mb()}")
    store.close()

    started = time.perf_counter()
    store = EdgeStore(root, model_name=MODEL_NAME, hnsw=hnsw)
    store.ensure_collection()
    print(f"reopen indexed    {time.perf_counter() - started:.2f} s")
    store.close()


class _Cond:
    def __init__(self, key: str, op: str, value: object) -> None:
        self.key, self.op, self.value = key, op, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--hnsw", action="store_true", help="also build HNSW graphs per tenant and namespace (minutes)")
    parser.add_argument("--skip-embedder", action="store_true")
    args = parser.parse_args()

    print("$", shlex.join([Path(sys.executable).name, *sys.argv]))
    print(f"cpus {os.cpu_count()}   python {sys.version.split()[0]}")
    if not args.skip_embedder:
        bench_embedder()
    with tempfile.TemporaryDirectory(prefix="bench-vectors-") as tmp:
        bench_store(Path(tmp), points=args.points, tenants=args.tenants, hnsw=args.hnsw)


if __name__ == "__main__":
    main()
