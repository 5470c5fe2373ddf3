"""The earlier service's clients, over real HTTP, with their own request shapes.

Its proof scripts and the graph tests of its main consumer (an agent "brain" that links
co-recalled coordinates before storing anything there) send `Authorization: Bearer`,
`X-Soma-Tenant`, coordinates written "1.0,2.0,3.0" or "1,2,3", and assert 200s.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from reliability.processes import MASTER_TOKEN, LiveServer
from reliability.tests.conftest import query

A, B, C = "1.0,2.0,3.0", "4.0,5.0,6.0", "7.0,8.0,9.0"
RACERS = 10


def headers(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {MASTER_TOKEN}", "X-Soma-Tenant": tenant}


@pytest.fixture
def brain(soma_server: LiveServer) -> Iterator[httpx.Client]:
    """An earlier client, in a tenant of its own (the server is shared by the module)."""
    with httpx.Client(base_url=soma_server.url, headers=headers(f"brain-{uuid.uuid4().hex[:8]}"), timeout=30) as c:
        yield c


def co_recall(client: httpx.Client, *coords: str) -> list[dict[str, Any]]:
    """What the consumer does after a recall: link every pair of the recalled coordinates."""
    bodies = []
    for index, source in enumerate(coords):
        for target in coords[index + 1 :]:
            response = client.post(
                "/graph/link",
                json={"from_coord": source, "to_coord": target, "link_type": "co_recalled", "strength": 0.5},
            )
            assert response.status_code == 200, response.text
            bodies.append(response.json())
    return bodies


def neighbours(client: httpx.Client, coord: str) -> list[dict[str, Any]]:
    response = client.get("/graph/neighbors", params={"coord": coord, "k_hop": 1, "limit": 10})
    assert response.status_code == 200, response.text
    return response.json()["neighbors"]


def path(client: httpx.Client, source: str, target: str) -> dict[str, Any]:
    response = client.get("/graph/path", params={"from_coord": source, "to_coord": target, "max_length": 10})
    assert response.status_code == 200, response.text
    return response.json()


@contextmanager
def admin_session(server: LiveServer) -> Iterator[httpx.Client]:
    server.env["DJANGO_SUPERUSER_PASSWORD"] = "earlier-clients-admin-1"
    name = f"root{uuid.uuid4().hex[:6]}"
    server.manage("createsuperuser", "--noinput", "--username", name, "--email", f"{name}@example.com")
    with httpx.Client(base_url=server.url, timeout=30, follow_redirects=True) as client:
        client.get("/admin/login/")
        login = client.post(
            "/admin/login/?next=/admin/",
            data={
                "username": name,
                "password": "earlier-clients-admin-1",
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
            },
            headers={"Referer": f"{server.url}/admin/login/"},
        )
        assert login.status_code == 200 and "/admin/login/" not in str(login.url), login.text[:500]
        yield client


def test_store_and_link_answer_200_with_created(brain: httpx.Client) -> None:
    # When a memory is stored, then stored again at the same coordinate written another way
    first = brain.post(
        "/memories", json={"coord": "1,2,3", "payload": {"task": "write report"}, "memory_type": "episodic"}
    )
    again = brain.post("/memories", json={"coord": A, "payload": {"task": "rewrite"}, "memory_type": "episodic"})
    # Then both are 200: created, then replaced in place
    assert first.status_code == 200 and again.status_code == 200
    body = first.json()
    assert {key: body[key] for key in ("coord", "memory_type", "created", "duplicate_of")} == {
        "coord": A,
        "memory_type": "episodic",
        "created": True,
        "duplicate_of": None,
    }
    assert again.json()["created"] is False and again.json()["memory"]["id"] == body["memory"]["id"]
    # And a link is 200 whether new or existing
    brain.post("/memories", json={"coord": B, "payload": {"task": "other"}})
    link = {"from_coord": "1,2,3", "to_coord": "4,5,6", "link_type": "related", "strength": 1.0}
    new, existing = brain.post("/graph/link", json=link), brain.post("/graph/link", json=link)
    assert (new.status_code, new.json()["ok"], new.json()["created"]) == (200, True, True)
    assert (existing.status_code, existing.json()["created"]) == (200, False)
    assert existing.json()["link"]["id"] == new.json()["link"]["id"]


def test_a_co_recalled_triangle_of_unstored_coordinates(soma_server: LiveServer, brain: httpx.Client) -> None:
    tenant = brain.headers["X-Soma-Tenant"]
    # Given a co-recalled triangle of coordinates where nothing is stored
    links = co_recall(brain, "1,2,3", "4.0,5.0,6.0", "7,8,9")
    assert [(link["from_coord"], link["to_coord"], link["created"]) for link in links] == [
        (A, B, True),
        (A, C, True),
        (B, C, True),
    ]
    node = dict.fromkeys((A, B, C))
    for link in links:
        node[link["from_coord"]], node[link["to_coord"]] = link["link"]["from_id"], link["link"]["to_id"]

    # Then neighbours and paths walk them, with no memory at any node
    # (equal strengths: the order within a depth is by node id)
    assert sorted(
        (n["coord"], n["depth"], n["link_type"], n["strength"], n["memory"]) for n in neighbours(brain, A)
    ) == [
        (B, 1, "co_recalled", 0.5, None),
        (C, 1, "co_recalled", 0.5, None),
    ]
    assert sorted((n["coord"], n["id"]) for n in neighbours(brain, "1,2,3")) == [(B, node[B]), (C, node[C])]
    found = path(brain, A, C)
    assert found["found"] is True and len(found["path"]) >= 2 and (found["path"][0], found["path"][-1]) == (A, C)
    # And none of them is a memory: not gettable, listed, searched or counted
    assert brain.get("/memories/4,5,6").status_code == 404
    assert brain.get("/memories").json()["items"] == []
    assert brain.post("/memories/search", json={"query": "anything", "top_k": 10}).json()["memories"] == []
    stats = brain.get("/stats").json()
    assert (stats["total_memories"], stats["total_links"]) == (0, 3)

    # When a memory is stored at one of them
    stored = brain.post("/memories", json={"coord": "4,5,6", "payload": {"content": "the middle one"}})

    # Then it is a new memory on that very node: same id, and the links made before are its links
    assert stored.status_code == 200 and stored.json()["created"] is True
    memory = stored.json()["memory"]
    assert memory["id"] == node[B]
    by_coord = {n["coord"]: n for n in neighbours(brain, A)}
    assert by_coord[B]["id"] == memory["id"] and by_coord[B]["memory"]["payload"] == {"content": "the middle one"}
    assert by_coord[C]["memory"] is None
    assert [n["coord"] for n in neighbours(brain, B)] == [C]
    assert path(brain, A, C)["found"] is True
    via = brain.get("/graph/path", params={"from_id": memory["id"], "to_coord": C}).json()
    assert (via["found"], via["ids"]) == (True, [memory["id"], node[C]])
    listed = brain.get("/graph/links", params={"ref": memory["id"]}).json()["links"]
    assert sorted((x["from_coord"], x["to_coord"]) for x in listed) == [(A, B), (B, C)]
    assert brain.get("/graph/links", params={"ref": "4,5,6"}).json()["links"] == listed
    assert [m["id"] for m in brain.get("/memories").json()["items"]] == [memory["id"]]
    stats = brain.get("/stats").json()
    assert (stats["total_memories"], stats["total_links"]) == (1, 3)
    # And the database holds three nodes, one of them a memory, and no second row for B
    rows = query(
        soma_server.env["DATABASE_URL"],
        "SELECT coord_key, bare_node FROM memories_memory WHERE tenant = %s ORDER BY coord_key",
        (tenant,),
    )
    assert rows == [(A, True), (B, False), (C, True)]

    # And the admin shows the same links, the nodes without a memory marked as such
    with admin_session(soma_server) as admin:
        page = admin.get("/admin/graph/link/", params={"tenant": tenant}).text
        labels = re.findall(r'<td class="field-(source_label|target_label)">([^<]*)</td>', page)
        assert sorted(labels) == sorted(
            [
                ("source_label", f"{A} (coordinate, no memory stored)"),
                ("target_label", B),
                ("source_label", f"{A} (coordinate, no memory stored)"),
                ("target_label", f"{C} (coordinate, no memory stored)"),
                ("source_label", B),
                ("target_label", f"{C} (coordinate, no memory stored)"),
            ]
        )
        memory_page = admin.get(f"/admin/memories/memory/{memory['id']}/change/").text
        assert f"{A} (coordinate, no memory stored)" in memory_page
        assert f"{C} (coordinate, no memory stored)" in memory_page
        memory_list = admin.get("/admin/memories/memory/", params={"tenant": tenant}).text
        assert memory_list.count('class="field-coordinate_key"') == 1

    # When the memory is deleted, its links go with it (the service's rule for a memory's links)
    deleted = brain.delete("/memories/4,5,6")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": True, "id": memory["id"], "coord": B}
    assert [n["coord"] for n in neighbours(brain, A)] == [C]
    assert brain.get("/graph/links", params={"ref": "4,5,6"}).json()["links"] == []
    assert path(brain, A, C)["found"] is True
    assert brain.get(f"/memories/{memory['id']}").status_code == 404
    assert brain.delete("/memories/4,5,6").json() == {"deleted": False, "id": None, "coord": B}


def test_another_tenant_sees_nothing_of_it(soma_server: LiveServer, brain: httpx.Client) -> None:
    # Given a brain's triangle, with a memory at one corner
    co_recall(brain, A, B, C)
    mine = brain.post("/memories", json={"coord": B, "payload": {"content": "mine"}}).json()["memory"]
    # When another tenant asks about the same coordinates
    with httpx.Client(base_url=soma_server.url, headers=headers(f"other-{uuid.uuid4().hex[:8]}"), timeout=30) as other:
        # Then it sees no node, no link, no path, no memory, no count
        for coord in (A, B, C, "1,2,3"):
            assert neighbours(other, coord) == []
            assert other.get("/graph/links", params={"ref": coord}).json()["links"] == []
        assert path(other, A, C)["found"] is False
        assert other.get("/memories").json()["items"] == []
        stats = other.get("/stats").json()
        assert (stats["total_memories"], stats["total_links"]) == (0, 0)
        # And the first tenant's ids are unknown to it
        unknown = other.get("/graph/neighbors", params={"id": mine["id"]})
        assert unknown.status_code == 404 and unknown.json()["code"] == "memory_not_found"
        assert other.delete(f"/memories/{mine['id']}").json() == {"deleted": False, "id": mine["id"], "coord": None}
        # And linking the same coordinates there makes its own nodes, leaving the first tenant's alone
        co_recall(other, A, C)
        assert [n["coord"] for n in neighbours(other, A)] == [C]
    assert {n["coord"] for n in neighbours(brain, A)} == {B, C}
    assert brain.get(f"/memories/{mine['id']}").status_code == 200


def delete_at_once(server: LiveServer, tenant_headers: dict[str, str], refs: list[str]) -> list[Any]:
    """One client per ref, released together by a barrier; each answer's (status, deleted)."""
    barrier = threading.Barrier(len(refs))
    answers: list[Any] = [None] * len(refs)

    def delete(index: int) -> None:
        with httpx.Client(base_url=server.url, headers=tenant_headers, timeout=30) as client:
            barrier.wait(timeout=30)
            response = client.delete(f"/memories/{refs[index]}")
            answers[index] = (response.status_code, response.json()["deleted"])

    threads = [threading.Thread(target=delete, args=(index,)) for index in range(len(refs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_exactly_one_of_racing_deletes_deletes(soma_server: LiveServer, brain: httpx.Client) -> None:
    for round_ in range(3):
        coord = f"9,9,{round_}"
        memory = brain.post("/memories", json={"coord": coord, "payload": {"content": f"round {round_}"}}).json()
        co_recall(brain, coord, f"8,8,{round_}")
        # When RACERS clients delete it at the same moment, half by id and half by coordinate
        refs = [memory["memory"]["id"] if i % 2 else coord for i in range(RACERS)]
        answers = delete_at_once(soma_server, dict(brain.headers), refs)
        # Then every one is a 200 and exactly one of them deleted it
        assert sorted(answers) == [(200, False)] * (RACERS - 1) + [(200, True)], answers
        assert brain.get(f"/memories/{coord}").status_code == 404
        linked = brain.get("/graph/neighbors", params={"coord": f"8,8,{round_}", "direction": "both"})
        assert linked.json()["neighbors"] == []
