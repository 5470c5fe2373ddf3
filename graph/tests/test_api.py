from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from conftest import ApiClient
from graph.models import Link
from graph.tests.conftest import link_rows
from memories.models import Memory
from tests_support.factories import MemoryFactory

pytestmark = pytest.mark.django_db


def error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "code"}
    assert body["code"] == code
    return body


def remember(api, coord, **extra):
    response = api.post("/memories", {"coord": coord, "payload": {"content": f"at {coord}"}, **extra})
    assert response.status_code == 200, response.content
    return response.json()["memory"]


# --- POST /graph/link ---------------------------------------------------------------------------


def test_old_client_links_two_coordinates(api):
    a, b = remember(api, "1,1"), remember(api, "2,2")

    response = api.post("/graph/link", {"from_coord": "1,1", "to_coord": "2.0,2.0", "link_type": "cites"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert body["created"] is True
    assert (body["from_coord"], body["to_coord"], body["link_type"]) == ("1.0,1.0", "2.0,2.0", "cites")
    link = body["link"]
    assert (link["from_id"], link["to_id"]) == (a["id"], b["id"])
    assert (link["link_type"], link["strength"], link["metadata"]) == ("cites", 1.0, {})
    assert link_rows() == [("default", Link.objects.get().source_id, Link.objects.get().target_id, "cites", 1.0, {})]


def test_linking_again_updates_what_is_given(api):
    a, b = remember(api, "1,1"), remember(api, "2,2")
    first = api.post("/graph/link", {"from_id": a["id"], "to_id": b["id"], "strength": 0.5, "metadata": {"k": 1}})

    again = api.post("/graph/link", {"from_coord": "1,1", "to_id": b["id"], "strength": 0.75})
    metadata_only = api.post("/graph/link", {"from_id": a["id"], "to_id": b["id"], "metadata": {"k": 2}})

    assert first.status_code == 200
    assert first.json()["created"] is True
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["link"]["id"] == first.json()["link"]["id"]
    assert again.json()["link"]["strength"] == 0.75
    assert again.json()["link"]["metadata"] == {"k": 1}
    assert metadata_only.json()["link"]["strength"] == 0.75
    assert metadata_only.json()["link"]["metadata"] == {"k": 2}
    assert Link.objects.count() == 1


def test_coordinates_are_looked_up_in_the_namespace(api):
    a, b = remember(api, "1,1", namespace="ns"), remember(api, "2,2", namespace="ns")

    elsewhere = api.post("/graph/link", {"from_coord": "1,1", "to_coord": "2,2"})
    linked = api.post("/graph/link", {"from_coord": "1,1", "to_coord": "2,2", "namespace": "ns"})

    # The same coordinates in the default namespace are other nodes (nothing stored there yet)
    assert elsewhere.status_code == 200 and elsewhere.json()["created"] is True
    assert {elsewhere.json()["link"]["from_id"], elsewhere.json()["link"]["to_id"]}.isdisjoint({a["id"], b["id"]})
    assert linked.status_code == 200 and linked.json()["created"] is True
    assert (linked.json()["link"]["from_id"], linked.json()["link"]["to_id"]) == (a["id"], b["id"])
    assert [n["id"] for n in api.get("/graph/neighbors", {"coord": "1,1", "namespace": "ns"}).json()["neighbors"]] == [
        b["id"]
    ]


def test_a_coordinate_with_nothing_stored_is_a_node(api):
    a = remember(api, "1,1")

    response = api.post("/graph/link", {"from_coord": "1,1", "to_coord": "9,9"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["created"] is True and (body["from_coord"], body["to_coord"]) == ("1.0,1.0", "9.0,9.0")
    assert body["link"]["from_id"] == a["id"]
    # the coordinate is a node, not a memory: no memory to get, list or count
    assert api.get("/memories/9,9").status_code == 404
    assert [m["id"] for m in api.get("/memories").json()["items"]] == [a["id"]]
    assert api.get("/stats").json()["total_memories"] == 1
    assert Memory.objects.count() == 1 and Memory.with_nodes.count() == 2


def test_linking_two_unstored_coordinates_costs_six_queries(api, django_assert_num_queries):
    # the ends (1); savepoint, a bare node for each end (2), the link, release
    with django_assert_num_queries(6):
        response = api.post("/graph/link", {"from_coord": "1,1", "to_coord": "2,2", "link_type": "co_recalled"})

    assert response.json()["created"] is True
    # once they are nodes: the ends, savepoint, the link, release
    with django_assert_num_queries(4):
        assert (
            api.post("/graph/link", {"from_coord": "1,1", "to_coord": "2,2", "link_type": "co_recalled"}).json()[
                "created"
            ]
            is False
        )


def test_deleting_at_a_bare_coordinate_deletes_nothing(api):
    api.post("/graph/link", {"from_coord": "1,1", "to_coord": "2,2"})

    response = api.delete("/memories/1,1")

    assert response.status_code == 200
    assert response.json() == {"deleted": False, "id": None, "coord": "1.0,1.0"}
    assert Link.objects.count() == 1 and Memory.with_nodes.count() == 2


def test_an_unknown_id_is_404_and_nothing_is_created(api):
    remember(api, "1,1")

    for body in (
        {"from_coord": "1,1", "to_id": "00000000-0000-4000-8000-000000000000"},
        {"from_coord": "5,5", "to_id": "00000000-0000-4000-8000-000000000000"},
    ):
        error(api.post("/graph/link", body), 404, "memory_not_found")

    assert link_rows() == []
    assert Memory.with_nodes.count() == 1  # no bare node for 5,5 either


def test_self_link_of_an_unstored_coordinate_is_422_and_makes_no_node(api):
    error(api.post("/graph/link", {"from_coord": "7,7", "to_coord": "7.0,7.0"}), 422, "self_link")

    assert link_rows() == []
    assert Memory.with_nodes.count() == 0


def test_self_link_is_422_and_nothing_is_created(api):
    a = remember(api, "1,1")

    error(api.post("/graph/link", {"from_coord": "1,1", "to_coord": "1.0,1.0"}), 422, "self_link")
    error(api.post("/graph/link", {"from_coord": "1,1", "to_id": a["id"]}), 422, "self_link")

    assert link_rows() == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"from_coord": "1,x", "to_coord": "2,2"}, 400, "invalid_coordinate"),
        ({"from_coord": "1,1", "to_coord": "nan,1"}, 400, "invalid_coordinate"),
        ({"from_coord": ",".join(["1"] * 17), "to_coord": "2,2"}, 400, "invalid_coordinate"),
        ({"to_coord": "2,2"}, 422, "missing_reference"),
        ({"from_coord": "1,1"}, 422, "missing_reference"),
        ({"from_coord": "1,1", "from_id": "00000000-0000-4000-8000-000000000000", "to_coord": "2,2"}, 422,
         "ambiguous_reference"),
        ({"from_id": "not-a-uuid", "to_coord": "2,2"}, 422, "validation_error"),
        ({"from_coord": "1,1", "to_coord": "2,2", "link_type": "has space"}, 422, "validation_error"),
        ({"from_coord": "1,1", "to_coord": "2,2", "link_type": ""}, 422, "validation_error"),
        ({"from_coord": "1,1", "to_coord": "2,2", "strength": "strong"}, 422, "validation_error"),
        ({"from_coord": "1,1", "to_coord": "2,2", "metadata": [1]}, 422, "validation_error"),
        ({"from_coord": "1,1", "to_coord": "2,2", "namespace": "bad/ns"}, 422, "validation_error"),
    ],
)  # fmt: skip
def test_bad_link_requests(api, body, status, code):
    remember(api, "1,1")
    remember(api, "2,2")

    error(api.post("/graph/link", body), status, code)

    assert link_rows() == []


def test_infinite_strength_is_refused_before_it_reaches_the_model(api):
    remember(api, "1,1")
    remember(api, "2,2")

    response = api.post("/graph/link", raw='{"from_coord": "1,1", "to_coord": "2,2", "strength": Infinity}')

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    assert link_rows() == []


def test_coordinates_as_lists(api):
    remember(api, "1,1")
    remember(api, "2,2")

    response = api.post("/graph/link", {"from_coord": [1, 1], "to_coord": [2.0, 2.0]})

    assert response.status_code == 200, response.content
    assert response.json()["created"] is True


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_identical_requests_make_one_link():
    ApiClient().post("/memories", {"coord": "1,1", "payload": {"content": "a"}})
    ApiClient().post("/memories", {"coord": "2,2", "payload": {"content": "b"}})

    def post(_):
        try:
            response = ApiClient().post("/graph/link", {"from_coord": "1,1", "to_coord": "2,2", "strength": 0.5})
            return response.status_code, response.json()["created"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))

    assert sorted(answers) == [(200, False)] * 19 + [(200, True)]
    assert Link.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_links_of_unstored_coordinates_make_one_node_each():
    def post(index):
        try:
            body = {"from_coord": "1,1", "to_coord": f"{2 + index % 2},2", "link_type": "co_recalled"}
            response = ApiClient().post("/graph/link", body)
            return response.status_code, response.json()["created"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))

    assert sorted(answers) == [(200, False)] * 18 + [(200, True)] * 2
    assert sorted(Memory.with_nodes.values_list("coord_key", "bare_node")) == [
        ("1.0,1.0", True), ("2.0,2.0", True), ("3.0,2.0", True)
    ]  # fmt: skip
    assert Link.objects.count() == 2


# --- tenants ------------------------------------------------------------------------------------


def test_cross_tenant_link_is_404_and_nothing_is_created(api_for):
    alice, bob = api_for("alice"), api_for("bob")
    a = remember(alice, "1,1")
    b_own = remember(bob, "2,2")

    by_id = bob.post("/graph/link", {"from_id": b_own["id"], "to_id": a["id"]})
    into = alice.post("/graph/link", {"from_id": a["id"], "to_id": b_own["id"]})

    error(by_id, 404, "memory_not_found")
    error(into, 404, "memory_not_found")
    assert link_rows() == []

    # By coordinate, bob links his own coordinate 1,1 (a node of his, nothing stored): never alice's memory
    by_coord = bob.post("/graph/link", {"from_coord": "2,2", "to_coord": "1,1"})
    assert by_coord.status_code == 200
    assert by_coord.json()["link"]["to_id"] != a["id"]
    assert alice.get("/graph/links", {"ref": "1,1"}).json()["links"] == []
    assert [row[0] for row in link_rows()] == ["bob"]


def test_another_tenants_graph_cannot_be_walked(api_for):
    alice, bob = api_for("alice"), api_for("bob")
    a, b = remember(alice, "1,1"), remember(alice, "2,2")
    alice.post("/graph/link", {"from_coord": "1,1", "to_coord": "2,2"})
    remember(bob, "1,1")  # same coordinate, bob's own memory, no links

    assert bob.get("/graph/neighbors", {"coord": "1,1", "k_hop": 6, "direction": "both"}).json()["neighbors"] == []
    error(bob.get("/graph/neighbors", {"id": a["id"]}), 404, "memory_not_found")
    error(bob.get("/graph/path", {"from_id": a["id"], "to_id": b["id"]}), 404, "memory_not_found")
    error(bob.get("/graph/links", {"ref": a["id"]}), 404, "memory_not_found")
    assert bob.get("/graph/links", {"ref": "1,1"}).json()["links"] == []
    error(bob.delete("/graph/link", {"from_id": a["id"], "to_id": b["id"]}), 404, "memory_not_found")
    assert Link.objects.count() == 1


# --- DELETE /graph/link -------------------------------------------------------------------------


def test_delete_link(api):
    a, b = remember(api, "1,1"), remember(api, "2,2")
    api.post("/graph/link", {"from_coord": "1,1", "to_coord": "2,2"})
    api.post("/graph/link", {"from_coord": "1,1", "to_coord": "2,2", "link_type": "cites"})

    deleted = api.delete("/graph/link", {"from_coord": "1,1", "to_coord": "2,2"})

    assert deleted.status_code == 200, deleted.content
    assert deleted.json() == {
        "deleted": True,
        "from_id": a["id"],
        "to_id": b["id"],
        "from_coord": "1.0,1.0",
        "to_coord": "2.0,2.0",
        "link_type": "related",
    }
    assert list(Link.objects.values_list("link_type", flat=True)) == ["cites"]
    error(api.delete("/graph/link", {"from_coord": "1,1", "to_coord": "2,2"}), 404, "link_not_found")
    error(
        api.delete("/graph/link", {"from_coord": "2,2", "to_coord": "1,1", "link_type": "cites"}), 404, "link_not_found"
    )


def test_delete_link_with_a_json_body_like_earlier_clients(api):
    remember(api, "1,1")
    remember(api, "2,2")
    api.post("/graph/link", {"from_coord": "1,1", "to_coord": "2,2", "link_type": "cites"})

    wrong_type = api.delete("/graph/link", body={"from_coord": "1,1", "to_coord": "2,2"})
    deleted = api.delete("/graph/link", body={"from_coord": "1,1", "to_coord": "2,2", "link_type": "cites"})

    error(wrong_type, 404, "link_not_found")
    assert deleted.status_code == 200
    assert not Link.objects.exists()


def test_delete_link_bad_requests(api):
    remember(api, "1,1")

    error(api.delete("/graph/link", {"to_coord": "1,1"}), 422, "missing_reference")
    error(api.delete("/graph/link", {"from_coord": "1,q", "to_coord": "1,1"}), 400, "invalid_coordinate")
    error(api.delete("/graph/link", body={"from_coord": "1,1", "to_coord": "2,2", "link_type": "a b"}), 422,
          "validation_error")  # fmt: skip


# --- GET /graph/links ---------------------------------------------------------------------------


def test_links_by_direction_type_and_page(api, make_graph):
    g = make_graph("a>b:cites b>c a>c x>b")

    def listed(**params):
        response = api.get("/graph/links", {"ref": g.coord("b"), **params})
        assert response.status_code == 200, response.content
        return response.json()

    both = listed()
    assert sorted((g.name_of(x["from_id"]), g.name_of(x["to_id"])) for x in both["links"]) == [
        ("a", "b"),
        ("b", "c"),
        ("x", "b"),
    ]
    assert both["next_cursor"] is None
    assert [g.name_of(x["to_id"]) for x in listed(direction="out")["links"]] == ["c"]
    assert sorted(g.name_of(x["from_id"]) for x in listed(direction="in")["links"]) == ["a", "x"]
    (cites,) = listed(link_type="cites")["links"]
    assert (cites["from_coord"], cites["to_coord"], cites["link_type"]) == (g.coord("a"), g.coord("b"), "cites")
    first = listed(limit=2)
    second = listed(limit=2, cursor=first["next_cursor"])
    assert len(first["links"]) == 2
    assert len(second["links"]) == 1
    assert second["next_cursor"] is None
    by_id = api.get("/graph/links", {"ref": g.id("b")}).json()
    assert by_id == both


def test_links_bad_requests(api):
    error(api.get("/graph/links", {"ref": "nonsense"}), 400, "invalid_reference")
    error(api.get("/graph/links", {"ref": "00000000-0000-4000-8000-000000000000"}), 404, "memory_not_found")
    error(api.get("/graph/links", {}), 422, "validation_error")
    error(api.get("/graph/links", {"ref": "1,1", "direction": "up"}), 422, "validation_error")


# --- GET /graph/neighbors -----------------------------------------------------------------------


def test_old_client_neighbors_call(api, make_graph):
    g = make_graph("a>b b>c c>d")

    response = api.get("/graph/neighbors", {"coord": g.coord("a"), "k_hop": 2})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["coord"] == g.coord("a")
    assert body["id"] == g.id("a")
    assert [(n["coord"], n["depth"]) for n in body["neighbors"]] == [(g.coord("b"), 1), (g.coord("c"), 2)]
    b = body["neighbors"][0]
    assert set(b) == {"id", "coord", "coordinate", "depth", "link_type", "strength", "via_id", "memory"}
    assert b["id"] == g.id("b")
    assert b["coordinate"] == g["b"].coordinate
    assert (b["link_type"], b["strength"], b["via_id"]) == ("related", 1.0, g.id("a"))
    assert b["memory"]["payload"] == g["b"].payload
    assert b["memory"]["id"] == g.id("b")


def test_neighbors_parameters(api, make_graph):
    g = make_graph("a>b:x:0.2 a>c:y:0.9 d>a:x")

    def names(**params):
        response = api.get("/graph/neighbors", {"id": g.id("a"), **params})
        assert response.status_code == 200, response.content
        return [g.name_of(n["id"]) for n in response.json()["neighbors"]]

    assert names() == ["c", "b"]
    assert names(link_type="x") == ["b"]
    assert names(direction="in") == ["d"]
    assert names(direction="both") == ["d", "c", "b"]
    assert names(direction="both", limit=1) == ["d"]
    assert names(direction="both", limit=1, offset=1) == ["c"]


def test_neighbors_query_count_is_pinned(api, make_graph, django_assert_num_queries):
    g = make_graph("a>b b>c c>d d>e")

    # the start, one query per level (five: the fifth finds nothing past e), the memories
    with django_assert_num_queries(7):
        response = api.get("/graph/neighbors", {"coord": g.coord("a"), "k_hop": 6})

    assert len(response.json()["neighbors"]) == 4


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"coord": "1,1", "k_hop": 7}, 422, "validation_error"),
        ({"coord": "1,1", "k_hop": 0}, 422, "validation_error"),
        ({"coord": "1,1", "limit": 0}, 422, "validation_error"),
        ({"coord": "1,1", "limit": 1001}, 422, "validation_error"),
        ({"coord": "1,1", "direction": "sideways"}, 422, "validation_error"),
        ({"coord": "1,1", "link_type": "no spaces"}, 422, "validation_error"),
        ({"coord": "1,1", "k_hop": "two"}, 422, "validation_error"),
        ({"coord": "1,zz"}, 400, "invalid_coordinate"),
        ({}, 422, "missing_reference"),
        ({"coord": "1,1", "id": "00000000-0000-4000-8000-000000000000"}, 422, "ambiguous_reference"),
        ({"id": "00000000-0000-4000-8000-000000000000"}, 404, "memory_not_found"),
    ],
)
def test_neighbors_bad_requests(api, params, status, code):
    remember(api, "1,1")

    error(api.get("/graph/neighbors", params), status, code)


def test_neighbors_names_its_own_parameters_when_they_are_missing_or_both_given(api):
    assert api.get("/graph/neighbors").json()["detail"] == "Give coord or id."
    both = api.get("/graph/neighbors", {"coord": "1,1", "id": "00000000-0000-4000-8000-000000000000"})
    assert both.json()["detail"] == "Give coord or id, not both."


def test_coordinates_that_are_no_node_have_no_neighbours_links_or_paths(api):
    remember(api, "1,1")

    neighbours = api.get("/graph/neighbors", {"coord": "8,8", "k_hop": 1, "limit": 10})
    links = api.get("/graph/links", {"ref": "8,8"})
    path = api.get("/graph/path", {"from_coord": "1,1", "to_coord": "3,3", "max_length": 10})
    neither = api.get("/graph/path", {"from_coord": "3,3", "to_coord": "4,4"})

    assert neighbours.status_code == 200
    assert neighbours.json() == {"coord": "8.0,8.0", "id": None, "neighbors": []}
    assert links.status_code == 200 and links.json() == {"links": [], "next_cursor": None}
    not_found = {"found": False, "path": [], "ids": [], "link_types": [], "length": 0}
    assert path.status_code == 200 and path.json() == {**not_found, "from_coord": "1.0,1.0", "to_coord": "3.0,3.0"}
    assert neither.status_code == 200 and neither.json()["found"] is False
    assert Memory.with_nodes.count() == 1  # reading never makes a node


# --- GET /graph/path ----------------------------------------------------------------------------


def test_old_client_path_call(api, make_graph):
    g = make_graph("a>b:cites b>c:cites a>x x>y y>c")

    response = api.get("/graph/path", {"from_coord": g.coord("a"), "to_coord": g.coord("c")})

    assert response.status_code == 200, response.content
    assert response.json() == {
        "found": True,
        "path": [g.coord("a"), g.coord("b"), g.coord("c")],
        "ids": [g.id("a"), g.id("b"), g.id("c")],
        "link_types": ["cites", "cites"],
        "length": 2,
        "from_coord": g.coord("a"),
        "to_coord": g.coord("c"),
    }


def test_path_names_memories_without_a_coordinate_by_id(api, make_graph):
    g = make_graph("a>b b>c")
    Link.objects.filter(source=g["a"]).delete()
    middle = MemoryFactory(coordinate=None)
    Link.objects.create(tenant="default", source=g["a"], target=middle)
    Link.objects.create(tenant="default", source=middle, target=g["c"])

    body = api.get("/graph/path", {"from_id": g.id("a"), "to_coord": g.coord("c")}).json()

    assert body["path"] == [g.coord("a"), str(middle.pk), g.coord("c")]


def test_path_not_found_is_200(api, make_graph, django_assert_num_queries):
    g = make_graph("a>b b>c c>d", nodes="z")

    # both ends in one query, then forward from a, backward from z (no links in): stop
    with django_assert_num_queries(3):
        response = api.get("/graph/path", {"from_coord": g.coord("a"), "to_coord": g.coord("z")})
    capped = api.get("/graph/path", {"from_coord": g.coord("a"), "to_coord": g.coord("d"), "max_length": 2})
    backwards = api.get("/graph/path", {"from_coord": g.coord("d"), "to_coord": g.coord("a")})
    reversed_ok = api.get("/graph/path", {"from_coord": g.coord("d"), "to_coord": g.coord("a"), "direction": "in"})

    not_found = {"found": False, "path": [], "ids": [], "link_types": [], "length": 0}
    assert response.status_code == 200
    assert {k: v for k, v in response.json().items() if k in not_found} == not_found
    assert capped.json()["found"] is False
    assert backwards.json()["found"] is False
    assert reversed_ok.json()["length"] == 3


def test_path_query_count_is_pinned(api, make_graph, django_assert_num_queries):
    g = make_graph("a>b b>c c>d d>e")

    # ends (1); levels: forward a, backward e, forward b, backward d (meets c); the path (1)
    with django_assert_num_queries(6):
        body = api.get("/graph/path", {"from_coord": g.coord("a"), "to_coord": g.coord("e")}).json()

    assert body["length"] == 4


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"to_coord": "1,1"}, 422, "missing_reference"),
        ({"from_coord": "1,1"}, 422, "missing_reference"),
        ({"from_coord": "1,1", "to_coord": "1,1", "max_length": 13}, 422, "validation_error"),
        ({"from_coord": "1,1", "to_coord": "1,1", "max_length": 0}, 422, "validation_error"),
        ({"from_coord": "1,1", "to_coord": "1,1", "direction": "up"}, 422, "validation_error"),
        ({"from_coord": "1,1", "to_coord": "1;1"}, 400, "invalid_coordinate"),
        ({"from_coord": "1,1", "to_id": "00000000-0000-4000-8000-000000000000"}, 404, "memory_not_found"),
        ({"from_id": "zzz", "to_coord": "1,1"}, 422, "validation_error"),
    ],
)
def test_path_bad_requests(api, params, status, code):
    remember(api, "1,1")

    error(api.get("/graph/path", params), status, code)


def test_path_to_itself(api):
    a = remember(api, "1,1")

    body = api.get("/graph/path", {"from_coord": "1,1", "to_id": a["id"]}).json()

    assert (body["found"], body["path"], body["length"]) == (True, ["1.0,1.0"], 0)


# --- deleting a memory --------------------------------------------------------------------------


def test_deleting_a_memory_removes_its_links(api, make_graph):
    g = make_graph("a>b b>c c>a x>b")

    response = api.delete(f"/memories/{g.coord('b')}")

    assert response.status_code == 200
    assert sorted((g.name_of(s), g.name_of(t)) for s, t in Link.objects.values_list("source_id", "target_id")) == [
        ("c", "a")
    ]
    assert api.get("/graph/neighbors", {"coord": g.coord("a"), "direction": "both"}).json()["neighbors"][0]["id"] == (
        g.id("c")
    )
    assert api.get("/graph/path", {"from_coord": g.coord("a"), "to_coord": g.coord("c")}).json()["found"] is False


def test_graph_needs_a_token(api_for):
    anonymous = api_for(token=None)

    for response in (
        anonymous.get("/graph/neighbors", {"coord": "1,1"}),
        anonymous.post("/graph/link", {"from_coord": "1,1", "to_coord": "2,2"}),
        anonymous.get("/graph/path", {"from_coord": "1,1", "to_coord": "2,2"}),
        anonymous.get("/graph/links", {"ref": "1,1"}),
        anonymous.delete("/graph/link", {"from_coord": "1,1", "to_coord": "2,2"}),
    ):
        error(response, 401, "unauthorized")
