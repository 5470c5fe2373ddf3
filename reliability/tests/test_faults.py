"""Dependencies really stopped under a real server process: Redis, PostgreSQL, the server itself, Qdrant.

Only private instances are stopped (a redis-server and a PostgreSQL cluster started by the
fixtures); the shared servers on 5432/6379 serve other test runs and are never touched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from memories.coordinates import parse_coordinate
from reliability.processes import LiveServer, PrivatePostgres, PrivateRedis
from reliability.tests.conftest import query
from tests_support.waiting import wait_until

BATCH = 1000


def _batch(namespace: str, size: int = BATCH) -> dict[str, Any]:
    return {
        "memories": [
            {
                "payload": {"content": f"batch item {i} of {namespace}", "i": i},
                "coord": f"{i},1",
                "namespace": namespace,
            }
            for i in range(size)
        ]
    }


def _namespace_counts(database_url: str) -> dict[str, int]:
    return dict(query(database_url, "SELECT namespace, count(*) FROM memories_memory GROUP BY namespace"))


def _everyday_traffic(client: httpx.Client, tag: str) -> list[int]:
    statuses = [
        client.post(
            "/memories", json={"payload": {"content": f"written {tag}"}, "coord": f"7,{len(tag)},{hash(tag) % 997}"}
        ).status_code,
        client.get("/memories", params={"limit": 5}).status_code,
        client.get("/memories/7,1,1").status_code,
        client.get("/stats").status_code,
        client.get("/healthz").status_code,
    ]
    return statuses


# --- (a) Redis -------------------------------------------------------------------------------


def test_redis_stopped_mid_run_requests_still_succeed(
    start_server: Callable[..., LiveServer], private_redis: PrivateRedis
) -> None:
    # Given a server whose cache and throttle counters live in a private Redis
    server = start_server(redis_url=private_redis.url)
    client = server.client(timeout=10)
    client.post("/memories", json={"payload": {"content": "before"}, "coord": "7,1,1"})
    assert client.get("/readyz").json()["cache"] is True

    # When Redis is stopped mid-run
    private_redis.stop()

    # Then every request still succeeds (cache bypassed, throttles fail open), quickly
    for round_ in range(10):
        started = time.monotonic()
        statuses = _everyday_traffic(client, f"down-{round_}")
        assert statuses == [200, 200, 200, 200, 200], statuses
        assert time.monotonic() - started < 5
    readiness = client.get("/readyz")
    assert readiness.status_code == 503 and readiness.json()["cache"] is False

    # And when Redis comes back, all is well again
    private_redis.start()
    wait_until(
        lambda: client.get("/readyz").status_code == 200,
        timeout=30,
        what="readiness after Redis restart",
        ignoring=(httpx.HTTPError,),
    )
    assert all(status < 400 for status in _everyday_traffic(client, "after"))
    assert "Internal Server Error" not in server.log_text()


# --- (c) PostgreSQL --------------------------------------------------------------------------


def test_postgres_restart_gives_503_then_recovers_with_no_partial_batch(
    start_server: Callable[..., LiveServer], private_postgres: PrivatePostgres
) -> None:
    # Given a server on a private PostgreSQL, and a client writing 1,000-memory batches nonstop
    server = start_server(database_url=private_postgres.url)
    client = server.client(timeout=30)
    assert client.post("/memories", json={"payload": {"content": "seed"}, "coord": "7,1,1"}).status_code == 200
    acknowledged: list[str] = []
    outcomes: list[int | str] = []
    stop = threading.Event()

    def writer() -> None:
        with server.client(timeout=30) as own:
            number = 0
            while not stop.is_set():
                namespace = f"b{number}"
                number += 1
                try:
                    response = own.post("/memories/batch", json=_batch(namespace))
                except httpx.HTTPError as exc:
                    outcomes.append(type(exc).__name__)
                    continue
                outcomes.append(response.status_code)
                if response.status_code == 200:
                    acknowledged.append(namespace)

    thread = threading.Thread(target=writer)
    thread.start()
    wait_until(lambda: acknowledged, timeout=60, what="a first batch stored")
    wait_until(
        lambda: query(
            private_postgres.url,
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'"
            " AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()",
        ),
        timeout=30,
        interval=0.01,
        what="a batch writing (a transaction with writes, active)",
    )

    # When PostgreSQL stops abruptly (immediate shutdown, as a crash) with a batch in flight
    private_postgres.stop(mode="immediate")
    try:
        # Then requests answer 503 service_unavailable in the error shape (never 500, never HTML)
        for path in ("/memories", "/memories/7,1,1", "/stats"):
            response = client.get(path)
            assert response.status_code == 503, (path, response.status_code, response.text[:200])
            assert response.headers["content-type"].startswith("application/json")
            assert response.json() == {
                "detail": "The database is unavailable; retry later.",
                "code": "service_unavailable",
            }
        response = client.post("/memories", json={"payload": {"content": "while down"}})
        assert (response.status_code, response.json()["code"]) == (503, "service_unavailable")
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
    finally:
        # And after it restarts, requests recover
        private_postgres.start()
    restarted_at = time.monotonic()
    wait_until(
        lambda: client.get("/memories", params={"limit": 1}).status_code == 200,
        timeout=30,
        what="recovery",
        ignoring=(httpx.HTTPError,),
    )
    recovered_in = time.monotonic() - restarted_at
    stored_before = len(acknowledged)
    wait_until(lambda: len(acknowledged) > stored_before, timeout=60, what="the writer storing a batch again")
    stop.set()
    thread.join(timeout=60)
    for attempt in range(20):
        assert client.post("/memories", json={"payload": {"content": f"after {attempt}"}}).status_code == 200
    assert client.get("/readyz").status_code == 200

    # And no batch is partial; every acknowledged batch is whole
    counts = _namespace_counts(private_postgres.url)
    batches = {ns: n for ns, n in counts.items() if ns.startswith("b")}
    assert all(n == BATCH for n in batches.values()), batches
    assert set(acknowledged) <= set(batches)
    assert 503 in outcomes and 500 not in outcomes, outcomes
    print(f"postgres restart: recovered in {recovered_in:.1f}s; batch outcomes {outcomes}")


# --- (d) the server killed ---------------------------------------------------------------------


def _batch_waiting_on(database_url: str, holder_pid: int) -> tuple[int, str | None] | None:
    """The backend whose statement waits on a lock `holder_pid` holds: (pid, its xid)."""
    rows = query(
        database_url,
        "SELECT pid, backend_xid::text FROM pg_stat_activity"
        " WHERE datname = current_database() AND state = 'active' AND wait_event_type = 'Lock'"
        " AND %s = ANY(pg_blocking_pids(pid))",
        (holder_pid,),
    )
    return (int(rows[0][0]), rows[0][1]) if rows else None


def test_server_killed_during_batch_leaves_it_all_or_nothing(start_server: Callable[..., LiveServer]) -> None:
    # Given a server, and a transaction of ours (left open) that moves the warmup memory at the
    # coordinate the batch stores last into the batch's namespace: a batch stores its rows in
    # coordinate order, 500 to a statement (memories.services.upsert), so its statement for that
    # coordinate waits for us after the earlier one has written its rows
    server = start_server()
    database_url = server.env["DATABASE_URL"]
    with server.client(timeout=60) as client:
        assert client.post("/memories/batch", json=_batch("warmup")).status_code == 200
    namespace = "killed"
    last_key = max(parse_coordinate(item["coord"]).key for item in _batch(namespace)["memories"])
    holder = psycopg.connect(database_url, connect_timeout=5)
    try:
        holder_pid = holder.info.backend_pid
        moved = holder.execute(
            "UPDATE memories_memory SET namespace = %s WHERE namespace = 'warmup' AND coord_key = %s",
            (namespace, last_key),
        )
        assert moved.rowcount == 1
        result: list[Any] = []

        def send() -> None:
            try:
                with server.client(timeout=60) as own:
                    result.append(own.post("/memories/batch", json=_batch(namespace)).status_code)
            except httpx.HTTPError as exc:
                result.append(type(exc).__name__)

        thread = threading.Thread(target=send)
        thread.start()
        waiting: tuple[int, str | None] | None = None

        def batch_blocked() -> bool:
            nonlocal waiting
            waiting = _batch_waiting_on(database_url, holder_pid)
            return waiting is not None

        wait_until(batch_blocked, timeout=60, what="the batch waiting on our lock")
        assert waiting is not None
        batch_pid, batch_xid = waiting
        # A transaction gets its xid at its first write: the batch has stored rows, uncommitted.
        assert batch_xid is not None

        # When the server process is SIGKILLed while that statement is in flight
        server.kill()
        thread.join(timeout=60)
    finally:
        holder.rollback()
        holder.close()

    # Then PostgreSQL ends the orphaned backend, and not one of the batch's rows was stored
    wait_until(
        lambda: not query(database_url, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (batch_pid,)),
        timeout=30,
        what="the killed server's backend ending",
    )
    assert result and result[0] != 200, result
    assert _namespace_counts(database_url) == {"warmup": BATCH}

    # And the restarted server stores the same batch whole
    server.start()
    with server.client(timeout=60) as client:
        assert client.post("/memories/batch", json=_batch(namespace)).status_code == 200
    assert _namespace_counts(database_url) == {"warmup": BATCH, namespace: BATCH}


# --- (b) Qdrant -------------------------------------------------------------------------------


def test_qdrant_unavailable_writes_pending_search_degraded_not_ready(start_server: Callable[..., LiveServer]) -> None:
    from reliability.processes import free_port

    # Given a server whose Qdrant server is down (nothing listens at QDRANT_URL)
    server = start_server(SOMA_VECTOR_STORE="qdrant", QDRANT_URL=f"http://127.0.0.1:{free_port()}", SOMA_WORKERS="1")
    client = server.client(timeout=30)

    # When memories are written
    created = client.post("/memories", json={"payload": {"content": "the cat sat on the mat"}, "coord": "3,3"})
    batch = client.post("/memories/batch", json=_batch("q", size=20))

    # Then the writes succeed and are marked for repair
    assert created.status_code == 200 and batch.status_code == 200
    # (Indexing runs after the commit, before the answer is sent: the states are final here.)
    statuses = dict(query(server.env["DATABASE_URL"], "SELECT vector_status, count(*) FROM memories_memory GROUP BY 1"))
    assert statuses.get("indexed", 0) == 0 and sum(statuses.values()) == 21, statuses

    # And search answers degraded from PostgreSQL, not a 500
    response = client.post("/memories/search", json={"query": "cat on a mat", "top_k": 3})
    assert response.status_code == 200, response.text[:300]
    assert response.json()["degraded"] is True
    assert response.json()["memories"][0]["coord"] == "3.0,3.0"

    # And the server says it is not ready
    readiness = client.get("/readyz")
    assert readiness.status_code == 503 and readiness.json()["vector_store"] is False

    # When a vector store is back (no Qdrant server here: the embedded engine stands in for it,
    # on the same database) and `reindex --dirty` runs
    server.stop()
    server.env.pop("QDRANT_URL")
    server.env["SOMA_VECTOR_STORE"] = "edge"
    server.manage("reindex", "--dirty")

    # Then every memory written during the outage is indexed and found by vector search
    statuses = dict(query(server.env["DATABASE_URL"], "SELECT vector_status, count(*) FROM memories_memory GROUP BY 1"))
    assert statuses == {"indexed": 21}, statuses
    server.start()
    with server.client() as repaired:
        assert repaired.get("/readyz").status_code == 200
        response = repaired.post("/memories/search", json={"query": "cat on a mat", "top_k": 3, "mode": "vector"})
        assert response.status_code == 200 and response.json()["degraded"] is False
        assert response.json()["memories"][0]["coord"] == "3.0,3.0"
