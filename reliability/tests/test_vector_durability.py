"""The embedded engine flushes on an interval, not per write: what a crash can cost, and its repair.

Each server here flushes once an hour (SOMA_VECTOR_FLUSH_INTERVAL=3600), so no write between
start-up and the crash is flushed: the worst case the setting allows.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

from reliability.processes import LiveServer
from reliability.tests.conftest import query
from tests_support.waiting import wait_until

NEVER = {"SOMA_VECTOR_FLUSH_INTERVAL": "3600"}
TEXTS = [
    f"{name} keeps a {thing} in the {place}"
    for name, thing, place in [
        ("Alice", "red kayak", "garage"),
        ("Bruno", "violin", "attic"),
        ("Chen", "sourdough starter", "fridge"),
        ("Dana", "telescope", "balcony"),
        ("Emeka", "chess set", "study"),
        ("Farah", "bonsai tree", "kitchen"),
    ]
]


def _write(server: LiveServer, texts: list[str], namespace: str) -> list[str]:
    with server.client() as client:
        ids = []
        for text in texts:
            response = client.post("/memories", json={"payload": {"content": text}, "namespace": namespace})
            assert response.status_code == 200 and response.json()["created"], response.text[:300]
            assert response.json()["memory"]["vector_status"] == "indexed"  # indexed before the answer
            ids.append(response.json()["memory"]["id"])
    return ids


def _statuses(server: LiveServer) -> dict[str, int]:
    return dict(query(server.env["DATABASE_URL"], "SELECT vector_status, count(*) FROM memories_memory GROUP BY 1"))


def _wait_indexed(server: LiveServer, total: int, *, timeout: float = 30.0) -> None:
    try:
        wait_until(lambda: _statuses(server) == {"indexed": total}, timeout=timeout, what=f"all {total} indexed")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {_statuses(server)}") from None


def _found_by_vector_search(server: LiveServer, texts: list[str], ids: list[str], namespace: str) -> None:
    with server.client() as client:
        for text, memory_id in zip(texts, ids, strict=True):
            body = {"query": text, "top_k": 1, "mode": "vector", "namespace": namespace}
            response = client.post("/memories/search", json=body)
            assert response.status_code == 200, response.text[:300]
            assert response.json()["degraded"] is False
            assert [hit["id"] for hit in response.json()["memories"]] == [memory_id], text


def test_writes_survive_a_sigkill_before_any_flush(start_server: Callable[..., LiveServer]) -> None:
    # Given a server that has indexed some memories but flushed none of them
    server = start_server(**NEVER)
    ids = _write(server, TEXTS, "killed")
    _wait_indexed(server, len(TEXTS))

    # When it is SIGKILLed and started again
    server.kill()
    server.start()

    # Then it finds every memory by vector search, and says it re-indexed what was not flushed
    _found_by_vector_search(server, TEXTS, ids, "killed")
    assert f"{len(TEXTS)} memories indexed after the vector store's last flush" in server.log_text()
    _wait_indexed(server, len(TEXTS))


def test_a_store_folder_restored_from_before_the_last_flush_is_repaired(
    start_server: Callable[..., LiveServer],
) -> None:
    # Given a copy of the store folder taken with three memories in it
    server = start_server(**NEVER)
    before = _write(server, TEXTS[:3], "restored")
    _wait_indexed(server, 3)
    server.stop()  # a clean stop flushes
    store = server.directory / "data" / "qdrant"
    shutil.copytree(store, server.directory / "backup")

    # And three memories indexed (and flushed, at the stop) after the copy
    server.start()
    after = _write(server, TEXTS[3:], "restored")
    _wait_indexed(server, 6)
    server.stop()

    # When the folder is restored from the copy (as a power cut before the flush would leave it)
    shutil.rmtree(store)
    shutil.copytree(server.directory / "backup", store)
    server.start()

    # Then the three memories the store lacks are indexed again, at start-up, and found
    assert "3 memories indexed after the vector store's last flush" in server.log_text()
    _wait_indexed(server, 6)
    _found_by_vector_search(server, TEXTS, before + after, "restored")
