"""Benchmark of the memory graph (issue 4): big graphs in PostgreSQL, timed over HTTP.

    .venv/bin/python bench/bench_graph.py [--memories 100000] [--links 1000000] [--kinds random powerlaw]
        [--requests 300] [--pg postgres://postgres@127.0.0.1:5432] [--reuse] [--drop] [--compare]

For each kind of graph it creates the database soma_bench_graph_<kind> (migrated like any other),
fills it with COPY (the same-tenant trigger and every index on), runs VACUUM ANALYZE, starts
`scripts/serve.py` against it (a pooled connection, one worker, a free port, a temporary data
dir) and measures, one request at a time over HTTP, p50/p99 of
- GET /graph/neighbors at k_hop 1, 2, 3 (limits 10 = the default, 100 and 1000; out and both),
- GET /graph/path between pairs whose shortest directed path is 2..6 links long, and pairs with
  no path (the target in a separate island of the graph) with max_length=6.

Graphs (5% of the memories and links form an island that nothing links into or out of):
- random: every link joins two uniformly chosen memories of its component (Erdős-Rényi-like,
  out-degree ~ Poisson(10));
- powerlaw: preferential attachment (Barabási-Albert, 10 links per new memory, each link's
  direction drawn at random), so degrees follow a power law and hubs have thousands of links.

--compare also times, in-process on the same data, the traversal strategies issue 4 asked us to
choose between: the level-by-level search the API uses versus recursive CTEs (a UNION-deduplicated
walk, and a path-array/CYCLE-guarded walk), so bench/README-graph.md can show why.
--reuse keeps an existing filled database; --drop drops the databases at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import psycopg
from benchlib import percentile, serve

ROOT = Path(__file__).resolve().parent.parent
TENANT = "bench"
LINK_TYPES = ["related", "cites", "follows", "mentions"]
LINK_TYPE_WEIGHTS = [0.7, 0.1, 0.1, 0.1]
ISLAND_SHARE = 0.05
COMPARE_TIMEOUT_S = 10


# --- graphs -------------------------------------------------------------------------------------


@dataclass
class Graph:
    kind: str
    nodes: int
    island_start: int  # memories [island_start, nodes) form the island
    source: np.ndarray
    target: np.ndarray

    @property
    def links(self) -> int:
        return len(self.source)


def _unique_pairs(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = source != target
    source, target = source[keep], target[keep]
    keys = np.unique(source.astype(np.int64) * (1 << 32) + target.astype(np.int64))
    return (keys >> 32).astype(np.int64), (keys & 0xFFFFFFFF).astype(np.int64)


def random_graph(nodes: int, links: int, rng: np.random.Generator) -> Graph:
    island = int(nodes * (1 - ISLAND_SHARE))
    parts_s, parts_t = [], []
    for low, high, count in ((0, island, int(links * (1 - ISLAND_SHARE))), (island, nodes, None)):
        wanted = count if count is not None else links - sum(len(p) for p in parts_s)
        s, t = np.empty(0, np.int64), np.empty(0, np.int64)
        while len(s) < wanted:
            extra = int((wanted - len(s)) * 1.05) + 100
            s = np.concatenate([s, rng.integers(low, high, extra)])
            t = np.concatenate([t, rng.integers(low, high, extra)])
            s, t = _unique_pairs(s, t)
        pick = rng.choice(len(s), wanted, replace=False)
        parts_s.append(s[pick])
        parts_t.append(t[pick])
    return Graph("random", nodes, island, np.concatenate(parts_s), np.concatenate(parts_t))


def _preferential(
    low: int, high: int, wanted: int, per_node: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Barabási-Albert on memories [low, high): each new memory links to `per_node` earlier ones
    chosen in proportion to their degree (sampling uniformly from the list of link ends)."""
    ends = np.empty(2 * (wanted + per_node * per_node) + 16, np.int64)
    source = np.empty(wanted + per_node * per_node, np.int64)
    target = np.empty_like(source)
    n_ends = n_links = 0
    seed = list(range(low, low + per_node + 1))
    for i, a in enumerate(seed):  # a small ring to start from
        b = seed[(i + 1) % len(seed)]
        source[n_links], target[n_links] = a, b
        ends[n_ends : n_ends + 2] = (a, b)
        n_links, n_ends = n_links + 1, n_ends + 2
    for node in range(low + per_node + 1, high):
        if n_links + per_node > len(source):
            break
        chosen = ends[rng.integers(0, n_ends, per_node)]
        source[n_links : n_links + per_node] = node
        target[n_links : n_links + per_node] = chosen
        ends[n_ends : n_ends + per_node] = node
        ends[n_ends + per_node : n_ends + 2 * per_node] = chosen
        n_links += per_node
        n_ends += 2 * per_node
    source, target = source[:n_links], target[:n_links]
    flip = rng.random(n_links) < 0.5  # each link's direction at random: hubs both ways
    source, target = np.where(flip, target, source), np.where(flip, source, target)
    source, target = _unique_pairs(source, target)
    ends = ends[:n_ends]
    while len(source) < wanted:  # duplicates dropped: top up, still preferentially
        extra = wanted - len(source) + 100
        s, t = ends[rng.integers(0, n_ends, extra)], ends[rng.integers(0, n_ends, extra)]
        source, target = _unique_pairs(np.concatenate([source, s]), np.concatenate([target, t]))
    pick = rng.choice(len(source), wanted, replace=False)
    return source[pick], target[pick]


def powerlaw_graph(nodes: int, links: int, rng: np.random.Generator) -> Graph:
    island = int(nodes * (1 - ISLAND_SHARE))
    per_node = max(1, round(links / nodes))
    main_links = int(links * (1 - ISLAND_SHARE))
    s1, t1 = _preferential(0, island, main_links, per_node, rng)
    s2, t2 = _preferential(island, nodes, links - main_links, per_node, rng)
    return Graph("powerlaw", nodes, island, np.concatenate([s1, s2]), np.concatenate([t1, t2]))


# --- the database -------------------------------------------------------------------------------


def database_url(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def create_database(base: str, name: str) -> None:
    with psycopg.connect(database_url(base, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(base: str, name: str) -> None:
    with psycopg.connect(database_url(base, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "QDRANT_URL", "SOMA_ENV"}}
    env.update(
        DATABASE_URL=url,
        SOMA_ENV="production",
        DJANGO_SECRET_KEY="bench-secret-" + uuid.uuid4().hex,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SOMA_DATA_DIR=str(data_dir),
        SOMA_THROTTLE_KEY_RATE="100000000/m",
        SOMA_THROTTLE_PUBLIC_RATE="100000000/m",
        SOMA_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def migrate(url: str, data_dir: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0"],
        env=server_env(url, data_dir, SOMA_API_TOKEN="unused"),
        check=True,
    )


def load(url: str, graph: Graph, rng: np.random.Generator) -> list[uuid.UUID]:
    ids = [uuid.UUID(bytes=bytes(row), version=4) for row in rng.integers(0, 256, (graph.nodes, 16), dtype=np.uint8)]
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        with (
            conn.cursor() as cursor,
            cursor.copy(
                "COPY memories_memory (id, tenant, namespace, coordinate, coord_key, memory_type, payload, text, metadata,"
                " importance, created_at, updated_at, vector_status, vector_model, vector_error) FROM STDIN"
            ) as copy,
        ):
            for i, memory_id in enumerate(ids):
                text = f"bench memory {i}"
                copy.write(
                    f"{memory_id}\t{TENANT}\tdefault\t{{{i}.0,0.0}}\t{i}.0,0.0\tsemantic\t"
                    f'{{"content": "{text}"}}\t{text}\t{{}}\t0.5\tnow\tnow\tindexed\tbench\t\n'
                )
        print(f"  {graph.nodes:,} memories copied in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        types = np.array(LINK_TYPES)[rng.choice(len(LINK_TYPES), graph.links, p=LINK_TYPE_WEIGHTS)]
        strengths = np.round(rng.random(graph.links), 3)
        text_ids = [str(memory_id) for memory_id in ids]
        with (
            conn.cursor() as cursor,
            cursor.copy(
                "COPY graph_link (tenant, source_id, target_id, link_type, strength, metadata, created_at) FROM STDIN"
            ) as copy,
        ):
            buffer = io.StringIO()
            for n, (s, t, link_type, strength) in enumerate(
                zip(graph.source.tolist(), graph.target.tolist(), types.tolist(), strengths.tolist(), strict=True)
            ):
                buffer.write(f"{TENANT}\t{text_ids[s]}\t{text_ids[t]}\t{link_type}\t{strength}\t{{}}\tnow\n")
                if n % 50_000 == 49_999:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
    print(f"  {graph.links:,} links copied in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE memories_memory")
        conn.execute("VACUUM ANALYZE graph_link")
    print(f"  VACUUM ANALYZE in {time.perf_counter() - started:.1f} s", flush=True)
    return ids


def read_graph(url: str, kind: str) -> tuple[Graph, list[uuid.UUID]]:
    """A filled database read back (for --reuse): memories ordered by their coordinate."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id FROM memories_memory WHERE tenant = %s ORDER BY coordinate[1]", [TENANT]
        ).fetchall()
        ids = [row[0] for row in rows]
        index = {memory_id: i for i, memory_id in enumerate(ids)}
        links = conn.execute("SELECT source_id, target_id FROM graph_link").fetchall()
    source = np.fromiter((index[s] for s, _ in links), np.int64, len(links))
    target = np.fromiter((index[t] for _, t in links), np.int64, len(links))
    island = int(len(ids) * (1 - ISLAND_SHARE))
    return Graph(kind, len(ids), island, source, target), ids


# --- choosing queries with a reference search (numpy, in the benchmark only) ---------------------


def csr(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(graph.source, kind="stable")
    pointers = np.zeros(graph.nodes + 1, np.int64)
    np.cumsum(np.bincount(graph.source, minlength=graph.nodes), out=pointers[1:])
    return pointers, graph.target[order]


def distances(pointers: np.ndarray, targets: np.ndarray, start: int, max_depth: int) -> np.ndarray:
    depth = np.full(len(pointers) - 1, -1, np.int64)
    depth[start] = 0
    frontier = np.array([start])
    for level in range(1, max_depth + 1):
        if not len(frontier):
            break
        reached = np.concatenate([targets[pointers[n] : pointers[n + 1]] for n in frontier])
        reached = np.unique(reached)
        reached = reached[depth[reached] < 0]
        depth[reached] = level
        frontier = reached
    return depth


@dataclass
class Samples:
    starts: list[int]
    pairs: dict[int, list[tuple[int, int]]]  # shortest distance -> (from, to)
    unreachable: list[tuple[int, int]]


def choose_samples(graph: Graph, count: int, rng: random.Random) -> Samples:
    pointers, targets = csr(graph)
    starts = [rng.randrange(graph.island_start) for _ in range(count)]
    pairs: dict[int, list[tuple[int, int]]] = {d: [] for d in range(2, 7)}
    for start in starts[: max(20, count // 10)]:
        depth = distances(pointers, targets, start, 6)
        for d in pairs:
            at = np.flatnonzero(depth == d)
            for target in rng.sample(list(at), min(len(at), max(1, count // 20))):
                pairs[d].append((start, int(target)))
    unreachable = []
    for _ in range(count):
        if rng.random() < 0.5:
            unreachable.append((rng.randrange(graph.island_start), rng.randrange(graph.island_start, graph.nodes)))
        else:
            unreachable.append((rng.randrange(graph.island_start, graph.nodes), rng.randrange(graph.island_start)))
    return Samples(starts, pairs, unreachable)


# --- the server and the timing ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    data_dir = Path(tempfile.mkdtemp(prefix="soma-bench-graph-"))
    port, token = free_port(), "bench-" + uuid.uuid4().hex
    env = server_env(url, data_dir, SOMA_API_TOKEN=token, SOMA_DB_POOL="true", SOMA_BIND=f"127.0.0.1:{port}")
    return serve(env, port=port, data_dir=data_dir, probe="/healthz"), f"http://127.0.0.1:{port}", token, data_dir


@dataclass
class Row:
    graph: str
    name: str
    latencies_ms: list[float]
    work: str

    def line(self) -> str:
        ms = self.latencies_ms
        return (
            f"| {self.graph} | {self.name} | {len(ms)} | {percentile(ms, 0.5):.2f} | {percentile(ms, 0.99):.2f} | "
            f"{statistics.fmean(ms):.2f} | {self.work} |"
        )


def timed(
    client: httpx.Client, path: str, params_list: list[dict[str, object]], requests: int
) -> tuple[list[float], list[dict]]:
    for params in params_list[:10]:  # warm the pool, the caches and the code paths
        client.get(path, params=params)
    latencies, bodies = [], []
    for i in range(requests):
        params = params_list[i % len(params_list)]
        started = time.perf_counter()
        response = client.get(path, params=params)
        body = response.json()
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path} {params}: {response.status_code} {body}")
        bodies.append(body)
    return latencies, bodies


def http_rows(
    graph: Graph, ids: list[uuid.UUID], samples: Samples, base: str, token: str, requests: int
) -> Iterator[Row]:
    headers = {"Authorization": f"Bearer {token}", "X-Soma-Tenant": TENANT}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        # The floor on this machine: a request that reads nothing, and one that reads one memory.
        latencies, _ = timed(client, "/healthz", [{}], requests)
        yield Row(graph.kind, "floor: GET /healthz", latencies, "no database")
        paths = [f"/memories/{ids[s]}" for s in samples.starts]
        latencies = []
        for i in range(requests):
            started = time.perf_counter()
            client.get(paths[i % len(paths)]).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
        yield Row(graph.kind, "floor: GET /memories/{id}", latencies, "one memory")
        for k in (1, 2, 3):
            for limit, direction in ((10, "out"), (100, "out"), (1000, "out"), (10, "both"), (100, "both")):
                if k == 1 and direction == "both" and limit == 100:
                    continue
                params = [
                    {"id": str(ids[s]), "k_hop": k, "limit": limit, "direction": direction} for s in samples.starts
                ]
                latencies, bodies = timed(client, "/graph/neighbors", params, requests)
                found = statistics.fmean(len(b["neighbors"]) for b in bodies)
                yield Row(
                    graph.kind, f"neighbors k={k} limit={limit} {direction}", latencies, f"{found:.0f} neighbours"
                )
        # Old clients name memories by coordinate: one row that way.
        params = [{"coord": f"{s}.0,0.0", "k_hop": 2} for s in samples.starts]
        latencies, bodies = timed(client, "/graph/neighbors", params, requests)
        found = statistics.fmean(len(b["neighbors"]) for b in bodies)
        yield Row(graph.kind, "neighbors k=2 by coord (old client)", latencies, f"{found:.0f} neighbours")
        for d, pairs in samples.pairs.items():
            if not pairs:
                yield Row(graph.kind, f"path, shortest = {d}", [float("nan")], "no such pair in this graph")
                continue
            params = [{"from_id": str(ids[s]), "to_id": str(ids[t])} for s, t in pairs]
            latencies, bodies = timed(client, "/graph/path", params, requests)
            lengths = {b["length"] for b in bodies}
            if lengths != {d}:
                raise SystemExit(f"path lengths {lengths} where {d} was expected")
            yield Row(graph.kind, f"path, shortest = {d}", latencies, f"{len(pairs)} pairs, all length {d}")
        params = [{"from_id": str(ids[s]), "to_id": str(ids[t]), "max_length": 6} for s, t in samples.unreachable]
        latencies, bodies = timed(client, "/graph/path", params, requests)
        if any(b["found"] for b in bodies):
            raise SystemExit("a path into the island was found")
        yield Row(graph.kind, "path, none within 6", latencies, "found: false")


# --- strategies compared in-process (--compare) --------------------------------------------------

_CTE_UNION = """
WITH RECURSIVE walk(node, depth) AS (
    SELECT %(start)s::uuid, 0
    UNION
    SELECT l.target_id, w.depth + 1 FROM walk w JOIN graph_link l ON l.source_id = w.node WHERE w.depth < %(k)s
)
SELECT node, min(depth) AS depth FROM walk WHERE node <> %(start)s GROUP BY node ORDER BY depth LIMIT %(limit)s
"""
_CTE_CYCLE = """
WITH RECURSIVE walk(node, depth) AS (
    SELECT %(start)s::uuid, 0
    UNION ALL
    SELECT l.target_id, w.depth + 1 FROM walk w JOIN graph_link l ON l.source_id = w.node WHERE w.depth < %(k)s
) CYCLE node SET is_cycle USING trail
SELECT node, min(depth) AS depth FROM walk WHERE NOT is_cycle AND node <> %(start)s
GROUP BY node ORDER BY depth LIMIT %(limit)s
"""
_CTE_PATH = """
WITH RECURSIVE walk(node, depth, trail) AS (
    SELECT %(source)s::uuid, 0, ARRAY[%(source)s::uuid]
    UNION ALL
    SELECT l.target_id, w.depth + 1, w.trail || l.target_id
    FROM walk w JOIN graph_link l ON l.source_id = w.node
    WHERE w.depth < %(max)s AND NOT l.target_id = ANY(w.trail)
)
SELECT trail FROM walk WHERE node = %(target)s LIMIT 1
"""


def compare_rows(graph: Graph, ids: list[uuid.UUID], samples: Samples, url: str, requests: int) -> Iterator[Row]:
    """Level-by-level search (the code the API runs) against recursive CTEs, in-process."""
    import django
    from django.conf import settings as django_settings

    if not django_settings.configured:
        os.environ.update(server_env(url, Path(tempfile.mkdtemp(prefix="soma-bench-graph-")), SOMA_API_TOKEN="unused"))
        os.environ["SOMA_DB_POOL"] = "false"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soma_project.settings")
        sys.path.insert(0, str(ROOT))
        django.setup()
    from django.db import connection

    from graph.selectors.neighbors import neighbors_find
    from graph.selectors.paths import path_find
    from memories.models import Memory

    connection.close()
    connection.settings_dict["NAME"] = url.rsplit("/", 1)[1]
    with connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = '{COMPARE_TIMEOUT_S}s'")

    def run(name: str, calls: list[Callable[[], object]], work: str) -> Row:
        latencies: list[float] = []
        for i in range(min(requests, 60) + 3):
            started = time.perf_counter()
            try:
                calls[i % len(calls)]()
            except Exception as exc:  # past the statement timeout: no point in running it again
                connection.close()
                with connection.cursor() as cursor:
                    cursor.execute(f"SET statement_timeout = '{COMPARE_TIMEOUT_S}s'")
                return Row(
                    graph.kind,
                    name,
                    [COMPARE_TIMEOUT_S * 1000.0],
                    f"stopped at the {COMPARE_TIMEOUT_S} s timeout ({exc.__class__.__name__})",
                )
            if i >= 3:  # the first calls warm the caches
                latencies.append((time.perf_counter() - started) * 1000)
        return Row(graph.kind, name, latencies, work)

    def memory(i: int) -> Memory:
        return Memory.objects.only("id", "tenant", "coord_key").get(pk=ids[i])

    def cte(sql: str, params: dict[str, object]) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        # then load what the API would answer with: the neighbours, or the memories on the path
        wanted = rows[0][0] if rows and isinstance(rows[0][0], list) else [r[0] for r in rows]
        list(Memory.objects.filter(pk__in=wanted).defer("search_document"))
        return rows

    starts = samples.starts[:50]
    for k in (1, 2, 3, 4):
        for limit in (10, 1000):
            bfs = [
                lambda s=s, k=k, limit=limit: neighbors_find(tenant=TENANT, start=memory(s), hops=k, limit=limit)
                for s in starts
            ]
            yield run(f"neighbors k={k} limit={limit}: level by level", bfs, "")
            for label, sql in (("CTE, UNION", _CTE_UNION), ("CTE, CYCLE", _CTE_CYCLE)):
                calls = [
                    lambda s=s, k=k, limit=limit, sql=sql: (
                        memory(s),
                        cte(sql, {"start": ids[s], "k": k, "limit": limit}),
                    )
                    for s in starts[:20]
                ]
                yield run(f"neighbors k={k} limit={limit}: {label}", calls, "")
    for d, pairs in [(d, p) for d, p in samples.pairs.items() if p] + [("none", samples.unreachable)]:
        chosen = pairs[:20]
        bfs = [
            lambda s=s, t=t, d=d: path_find(
                tenant=TENANT, source=memory(s), target=memory(t), max_length=6 if d == "none" else 10
            )
            for s, t in chosen
        ]
        yield run(f"path {d}: bidirectional level by level", bfs, "")
        calls = [
            lambda s=s, t=t, d=d: (
                memory(s),
                memory(t),
                cte(_CTE_PATH, {"source": ids[s], "target": ids[t], "max": 6 if d == "none" else 10}),
            )
            for s, t in chosen[:10]
        ]
        yield run(f"path {d}: CTE with trail, LIMIT 1", calls, "")


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--kinds", nargs="+", default=["random", "powerlaw"], choices=["random", "powerlaw"])
    parser.add_argument("--requests", type=int, default=300, help="timed requests per row")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--reuse", action="store_true", help="keep a database filled by an earlier run")
    parser.add_argument("--drop", action="store_true", help="drop the databases at the end")
    parser.add_argument("--compare", action="store_true", help="also time the strategies in-process")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP measurements")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()

    rows: list[Row] = []
    for kind in args.kinds:
        name = f"soma_bench_graph_{kind}"
        url = database_url(args.pg, name)
        rng = np.random.default_rng(args.seed)
        print(f"{kind}: {args.memories:,} memories, {args.links:,} links in {name}", flush=True)
        if args.reuse:
            graph, ids = read_graph(url, kind)
            print(f"  reused: {graph.nodes:,} memories, {graph.links:,} links", flush=True)
        else:
            started = time.perf_counter()
            graph = (random_graph if kind == "random" else powerlaw_graph)(args.memories, args.links, rng)
            print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
            create_database(args.pg, name)
            migrate(url, Path(tempfile.mkdtemp(prefix="soma-bench-graph-")))
            ids = load(url, graph, rng)
        degrees = np.bincount(graph.source, minlength=graph.nodes) + np.bincount(graph.target, minlength=graph.nodes)
        print(f"  degree: mean {degrees.mean():.1f}, max {degrees.max():,}, p99 {np.percentile(degrees, 99):.0f}")
        samples = choose_samples(graph, 200, random.Random(args.seed))
        print("  path pairs by distance: " + ", ".join(f"{d}: {len(p)}" for d, p in samples.pairs.items()), flush=True)
        if not args.no_http:
            process, base, token, _ = start_server(url)
            try:
                for row in http_rows(graph, ids, samples, base, token, args.requests):
                    print(row.line(), flush=True)
                    rows.append(row)
            finally:
                process.terminate()
                process.wait(timeout=30)
        if args.compare:
            for row in compare_rows(graph, ids, samples, url, args.requests):
                print(row.line(), flush=True)
                rows.append(row)
        if args.drop:
            drop_database(args.pg, name)

    print("\n| graph | request | n | p50 ms | p99 ms | mean ms | work |\n|---|---|---|---|---|---|---|")
    for row in rows:
        print(row.line())


if __name__ == "__main__":
    main()
