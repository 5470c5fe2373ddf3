"""20 real HTTP clients writing the same coordinates and links at the same moment."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import httpx

from reliability.processes import LiveServer
from reliability.tests.conftest import query

CLIENTS = 20


def _at_once(server: LiveServer, request: Callable[[httpx.Client, int], httpx.Response]) -> list[httpx.Response]:
    """Run `request` in CLIENTS threads released together by a barrier; keep every response."""
    barrier = threading.Barrier(CLIENTS)
    responses: list[Any] = [None] * CLIENTS

    def run(index: int) -> None:
        with server.client(timeout=60) as client:
            barrier.wait()
            responses[index] = request(client, index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return responses


def test_concurrent_upserts_of_one_coordinate_make_one_memory(soma_server: LiveServer) -> None:
    database_url = soma_server.env["DATABASE_URL"]
    for round_ in range(5):
        coord = f"42,{round_},7"
        # When 20 clients store the same coordinate at once, each with its own payload
        responses = _at_once(
            soma_server,
            lambda client, i, c=coord: client.post(
                "/memories", json={"payload": {"writer": i, "content": f"writer {i}"}, "coord": c, "importance": i / 20}
            ),
        )

        # Then no request failed, exactly one created it, and all saw the same memory
        answers = sorted((response.status_code, response.json()["created"]) for response in responses)
        assert answers == [(200, False)] * (CLIENTS - 1) + [(200, True)], answers
        ids = {response.json()["memory"]["id"] for response in responses}
        assert len(ids) == 1
        # And the database holds one row whose state is exactly one of the writes
        rows = query(
            database_url,
            "SELECT payload, importance FROM memories_memory WHERE coord_key = %s AND namespace = 'default'",
            (f"42.0,{float(round_)},7.0",),
        )
        assert len(rows) == 1
        payload, importance = rows[0]
        writer = payload["writer"]
        assert payload == {"writer": writer, "content": f"writer {writer}"} and importance == writer / 20


def test_concurrent_overlapping_batches_neither_fail_nor_duplicate(soma_server: LiveServer) -> None:
    database_url = soma_server.env["DATABASE_URL"]
    coords = [f"{i},5,5" for i in range(100)]

    # When 20 clients send batches over the same 100 coordinates, each in its own order
    def send(client: httpx.Client, index: int) -> httpx.Response:
        order = coords[:]
        random.Random(index).shuffle(order)
        items = [{"payload": {"writer": index, "c": c}, "coord": c, "namespace": "overlap"} for c in order]
        return client.post("/memories/batch", json={"memories": items})

    responses = _at_once(soma_server, send)

    # Then every batch succeeded (no deadlock surfaced as an error) and each coordinate is one row
    assert [response.status_code for response in responses] == [200] * CLIENTS, [r.text[:200] for r in responses]
    rows = query(
        database_url, "SELECT coord_key, payload FROM memories_memory WHERE namespace = 'overlap' ORDER BY coord_key"
    )
    assert len(rows) == 100
    assert all(payload["c"] == f"{int(float(key.split(',')[0]))},5,5" for key, payload in rows)


def test_concurrent_links_of_one_pair_make_one_link(soma_server: LiveServer) -> None:
    database_url = soma_server.env["DATABASE_URL"]
    with soma_server.client() as client:
        for coord in ("60,1", "60,2"):
            assert client.post("/memories", json={"payload": {"content": coord}, "coord": coord}).status_code == 200

    for link_type in ("related", "cites"):
        # When 20 clients link the same pair at once, each with its own strength
        responses = _at_once(
            soma_server,
            lambda client, i, t=link_type: client.post(
                "/graph/link",
                json={
                    "from_coord": "60,1",
                    "to_coord": "60,2",
                    "link_type": t,
                    "strength": float(i),
                    "metadata": {"w": i},
                },
            ),
        )

        # Then exactly one created it, the rest updated it, and no request failed
        answers = sorted((response.status_code, response.json()["created"]) for response in responses)
        assert answers == [(200, False)] * (CLIENTS - 1) + [(200, True)], [r.text[:200] for r in responses]
        rows = query(
            database_url,
            "SELECT l.strength, l.metadata FROM graph_link l JOIN memories_memory s ON s.id = l.source_id "
            "JOIN memories_memory t ON t.id = l.target_id WHERE s.coord_key = '60.0,1.0' AND t.coord_key = '60.0,2.0' "
            "AND l.link_type = %s",
            (link_type,),
        )
        assert len(rows) == 1
        strength, metadata = rows[0]
        assert metadata == {"w": int(strength)}
