"""Writes racing deletes of the same memory, over real HTTP, then the three stores checked against
each other: PostgreSQL, the vector store (`vectors_check` without --fix) and the graph.

Bounded: SOMA_RACE_ROUNDS rounds (8 in `make test`, about a second each; `make fuzz` runs 150, at
most 200 since one batch of up to 1,000 memories seeds them), each releasing its requests
together from a barrier, within SOMA_RACE_BUDGET seconds.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from reliability.processes import LiveServer
from reliability.tests.conftest import query

ROUNDS = int(os.environ.get("SOMA_RACE_ROUNDS", "8"))
BUDGET_SECONDS = float(os.environ.get("SOMA_RACE_BUDGET", "120"))
Request = Callable[[httpx.Client], httpx.Response]


def _together(server: LiveServer, requests: dict[str, Request]) -> dict[str, httpx.Response]:
    """Each request in its own thread and connection, released at once by a barrier."""
    barrier = threading.Barrier(len(requests))
    answers: dict[str, Any] = {}

    def run(name: str, request: Request) -> None:
        with server.client(timeout=60) as client:
            client.get("/healthz")  # connect before the barrier: the requests leave together
            barrier.wait()
            answers[name] = request(client)

    threads = [threading.Thread(target=run, args=item) for item in requests.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def _text(round_: int) -> str:
    return f"the heron waits at the pond, round {round_}"


def _racing_requests(round_: int, text: str, *, patched: str, linked: str) -> dict[str, Request]:
    """PATCH and DELETE of one memory, upsert and DELETE of one coordinate, a link and the
    DELETE of one of its ends."""
    scope = {"namespace": f"race{round_}"}
    return {
        "patch": lambda c: c.patch(f"/memories/{patched}", json={"payload": {"content": text, "edited": True}}),
        "delete patched": lambda c: c.delete(f"/memories/{patched}"),
        "upsert": lambda c: c.post(
            "/memories", json={"payload": {"content": text, "again": True}, "coord": f"{round_},1", **scope}
        ),
        "delete upserted": lambda c: c.delete(f"/memories/{round_},1", params=scope),
        "link": lambda c: c.post("/graph/link", json={"from_coord": f"{round_},3", "to_coord": f"{round_},2", **scope}),
        "delete linked": lambda c: c.delete(f"/memories/{linked}"),
    }


def test_writes_racing_deletes_never_fail_and_leave_the_stores_consistent(start_server: Any) -> None:
    server: LiveServer = start_server()
    database_url = server.env["DATABASE_URL"]
    statuses: dict[str, set[int]] = {}
    deleted: list[str] = []
    started = time.monotonic()
    # One batch stores every round's memories: per round, the memory to PATCH, a live look-alike
    # of it (a vector put back for the deleted one would tie with it and could take the only
    # slot of a top_k=1 search), one at the coordinate to upsert, and the two ends of a link.
    items = []
    for round_ in range(ROUNDS):
        text, namespace = _text(round_), f"race{round_}"
        items += [
            {"payload": {"content": text}, "namespace": namespace},
            {"payload": {"content": text, "twin": True}, "namespace": namespace},
            {"payload": {"content": text}, "coord": f"{round_},1", "namespace": namespace},
            {"payload": {"content": "link end"}, "coord": f"{round_},2", "namespace": namespace},
            {"payload": {"content": "other end"}, "coord": f"{round_},3", "namespace": namespace},
        ]
    with server.client() as client:
        response = client.post("/memories/batch", json={"memories": items})
        assert response.status_code == 200, response.text
        ids = [item["id"] for item in response.json()["memories"]]
    for round_ in range(ROUNDS):
        assert time.monotonic() - started < BUDGET_SECONDS, f"races exceeded {BUDGET_SECONDS}s at round {round_}"
        patched, linked = ids[5 * round_], ids[5 * round_ + 3]
        text = _text(round_)
        answers = _together(server, _racing_requests(round_, text, patched=patched, linked=linked))
        for name, response in answers.items():
            statuses.setdefault(name, set()).add(response.status_code)
            assert response.status_code < 500, (name, response.text, server.log_tail(30))
        deleted += [patched, linked]

    # Then every request got an answer of its contract: the deletes of a memory that existed
    # succeeded, and a write that lost the race to its delete is a 404, never a 500
    assert statuses["delete patched"] == {200} and statuses["delete linked"] == {200}, statuses
    assert statuses["patch"] <= {200, 404} and statuses["link"] <= {200, 201, 404}, statuses
    assert statuses["upsert"] <= {200, 201} and statuses["delete upserted"] <= {200, 404}, statuses

    # And PostgreSQL and the graph agree: the deleted memories are gone with their links, and no
    # link has an end that is not a memory of its own tenant
    assert query(database_url, "SELECT id FROM memories_memory WHERE id = ANY(%s::uuid[])", (deleted,)) == []
    dangling = query(
        database_url,
        "SELECT l.id FROM graph_link l LEFT JOIN memories_memory s ON s.id = l.source_id "
        "LEFT JOIN memories_memory t ON t.id = l.target_id "
        "WHERE s.id IS NULL OR t.id IS NULL OR s.tenant <> l.tenant OR t.tenant <> l.tenant",
    )
    assert dangling == []
    # Every live memory was indexed (each request indexed its own write before answering)
    assert query(database_url, "SELECT id FROM memories_memory WHERE vector_status <> 'indexed'") == []

    # And search finds a live memory in the only slot: no deleted memory's vector competes for it
    with server.client() as client:
        for round_ in range(ROUNDS):
            text = _text(round_)
            response = client.post("/memories/search", json={"query": text, "top_k": 1, "namespace": f"race{round_}"})
            assert [hit["payload"]["content"] for hit in response.json()["memories"]] == [text], response.text

    # And the vector store holds exactly the live memories: vectors_check, without --fix, is clean
    server.stop()
    try:
        report = server.manage("vectors_check", timeout=120).stdout.decode()
    except subprocess.CalledProcessError as exc:
        raise AssertionError(f"vectors_check found drift:\n{exc.stdout.decode()}\n{exc.stderr.decode()}") from None
    assert "No drift" in report, report
