"""Inputs a hostile client sends, over real HTTP: each one refused with a 4xx in the error shape
and nothing stored changed, or (ties) answered consistently. One rule per input class, checked on
every path that takes it: list, each search mode, batch, PATCH, links, cursors."""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

import httpx
import pytest

from reliability.processes import MASTER_TOKEN, LiveServer
from reliability.tests.conftest import query

MODES = ("vector", "keyword", "hybrid")
BIG = "9" * 401  # an integer no double holds
IMPOSSIBLE_DATES = [
    "2025-02-30T00:00:00",
    "2025-13-01T00:00:00",
    "2025-01-01T25:00:00",
    "2025-01-01T00:61:00",
    "2025-01-01T00:00:00+24:00",
    "2025-01-01T00:00:00-24:00",
    "0001-01-01T00:00:00+23:59",  # before year 1 once in UTC
    "9999-12-31T23:59:59-23:59",  # after year 9999 once in UTC
    "\uff12\uff10\uff12\uff15-01-01T00:00:00",  # full-width digits
    "2025-01-01T00:00:00\u00a0",  # a no-break space
]


def snapshot(server: LiveServer) -> list[tuple[Any, ...]]:
    """Everything a refusal must leave alone: every memory's stored state and every link."""
    url = server.env["DATABASE_URL"]
    memories = query(
        url,
        "SELECT id, tenant, namespace, coord_key, payload, metadata, text, importance, updated_at, vector_status "
        "FROM memories_memory ORDER BY id",
    )
    links = query(url, "SELECT id, source_id, target_id, link_type, strength, metadata FROM graph_link ORDER BY id")
    return [*memories, ("links",), *links]


@pytest.fixture(scope="module")
def seeded(soma_server: LiveServer) -> dict[str, str]:
    with soma_server.client() as client:
        ids = {}
        for coord, content in (("7,1", "alpha tea"), ("7,2", "beta tea")):
            response = client.post("/memories", json={"payload": {"content": content, "n": 1}, "coord": coord})
            assert response.status_code == 200, response.text
            ids[coord] = response.json()["memory"]["id"]
        assert client.post("/graph/link", json={"from_coord": "7,1", "to_coord": "7,2"}).status_code == 200
    return ids


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "code"} and body["code"] == code, body


def first_item_refused(response: httpx.Response) -> None:
    """A batch of one bad item: a 422 naming item 0."""
    assert (response.status_code, response.json()["detail"][0]["index"]) == (422, 0), response.text


def every_filter_path(client: httpx.Client, filters: str) -> list[tuple[str, httpx.Response]]:
    """The same filter (JSON text) on list, GET search and POST search in each mode."""
    answers = [("list", client.get("/memories", params={"filters": filters}))]
    for mode in MODES:
        answers.append(
            (f"GET {mode}", client.get("/memories/search", params={"query": "tea", "mode": mode, "filters": filters}))
        )
        body = f'{{"query": "tea", "mode": "{mode}", "filters": {filters}}}'
        answers.append((f"POST {mode}", client.post("/memories/search", content=body.encode())))
    return answers


@pytest.mark.parametrize("moment", IMPOSSIBLE_DATES)
def test_impossible_dates_in_filters_are_a_400_everywhere(soma_server: LiveServer, seeded: dict, moment: str) -> None:
    before = snapshot(soma_server)
    with soma_server.client() as client:
        for op in ("gte", "lt"):
            for path, response in every_filter_path(client, json.dumps({"created_at": {op: moment}})):
                assert response.status_code == 400, (path, response.text)
                assert response.json()["code"] == "invalid_filter", path
    assert snapshot(soma_server) == before


@pytest.mark.parametrize(
    "filters",
    [
        f'{{"n": {{"gte": {BIG}}}}}',
        f'{{"n": {{"lt": -{BIG}}}}}',
        '{"n": {"gt": 1e400}}',
        f'{{"n": {BIG}}}',
        f'{{"n": {{"eq": {BIG}}}}}',
        f'{{"n": {{"in": [1, {BIG}]}}}}',
        '{"n": -1e999}',
    ],
)
def test_numbers_beyond_a_double_in_filters_are_a_400_on_list_and_search(
    soma_server: LiveServer, seeded: dict, filters: str
) -> None:
    before = snapshot(soma_server)
    with soma_server.client() as client:
        answers = every_filter_path(client, filters)
    assert [(path, r.status_code, r.json()["code"]) for path, r in answers] == [
        (path, 400, "invalid_filter") for path, _ in answers
    ]
    assert snapshot(soma_server) == before


def test_numbers_a_double_holds_still_filter_alike_on_list_and_search(soma_server: LiveServer, seeded: dict) -> None:
    # 1e308 and 2**70 are in range: list and every search mode agree the seeded memories match
    with soma_server.client() as client:
        for filters in ('{"n": {"lt": 1e308}}', '{"n": {"gt": -1180591620717411303424}}', '{"n": {"gte": 5e-324}}'):
            answers = every_filter_path(client, filters)
            assert all(r.status_code == 200 for _, r in answers), [(p, r.text) for p, r in answers]
            found = [
                sorted(m["id"] for m in (r.json().get("items") or r.json().get("memories") or [])) for _, r in answers
            ]
            assert found == [sorted(seeded.values())] * len(answers), (filters, found)


@pytest.mark.parametrize(
    "cursor", ["\u00b2", "\u00b9\u00b2", "\u2460", "\u0663", "\uff11", "1\u00a0", "-1", "+1", "9" * 19]
)
def test_cursors_with_odd_digits_are_a_400_on_every_paginated_route(
    soma_server: LiveServer, seeded: dict, cursor: str
) -> None:
    with soma_server.client() as client:
        refused(client.get("/memories", params={"cursor": cursor}), 400, "invalid_cursor")
        refused(client.get("/graph/links", params={"ref": "7,1", "cursor": cursor}), 400, "invalid_cursor")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/memories/search", {"query": "a\u0000b"}),
        ("/memories/search", {"query": "tea", "mode": "keyword", "namespace": "default\u0000"}),
        ("/memories", {"limit": "5", "n\u0000": "1"}),
        ("/graph/neighbors", {"coord": "7,1\u0000"}),
    ],
)
def test_nul_in_a_query_string_is_a_400_as_in_a_body(
    soma_server: LiveServer, seeded: dict, path: str, params: dict
) -> None:
    with soma_server.client() as client:
        refused(client.get(path, params=params), 400, "bad_request")


@pytest.mark.parametrize("filters", ['{"created_at": {"gte": "2025-01-01T00:00:00\\u0000Z"}}', '{"c": "a\\u0000b"}'])
def test_nul_inside_filters_of_a_query_string_is_a_400_as_in_a_body(
    soma_server: LiveServer, seeded: dict, filters: str
) -> None:
    with soma_server.client() as client:
        for path, response in every_filter_path(client, filters):
            # In a body the whole JSON text is refused (the body rule), in a query string the filter
            code = "invalid_json" if path.startswith("POST") else "invalid_filter"
            assert (response.status_code, response.json()["code"]) == (400, code), (path, response.text)


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor(["2025-02-30T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"]),
        _cursor(["0001-01-01T00:00:00+23:59", "00000000-0000-0000-0000-000000000000"]),
        _cursor(["\uff12\uff10\uff12\uff15-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"]),
        _cursor({"a": 1, "b": 2}),
        _cursor([1, 2]),
        _cursor(["2025-01-01T00:00:00+00:00", "not-a-uuid"]),
        _cursor(["2025-01-01T00:00:00\u0000Z", "00000000-0000-0000-0000-000000000000"]),  # fromisoformat reads it
        "\u00e9t\u00e9",
        "a" * 400,
    ],
)
def test_forged_list_cursors_are_a_400(soma_server: LiveServer, seeded: dict, cursor: str) -> None:
    with soma_server.client() as client:
        refused(client.get("/memories", params={"cursor": cursor}), 400, "invalid_cursor")


def test_a_cursor_the_api_returned_pages_through_every_memory(soma_server: LiveServer, seeded: dict) -> None:
    with soma_server.client() as client:
        first = client.get("/memories", params={"limit": 1}).json()
        second = client.get("/memories", params={"limit": 500, "cursor": first["next_cursor"]}).json()
        total = client.get("/memories", params={"limit": 500}).json()["items"]
    assert [m["id"] for m in first["items"] + second["items"]] == [m["id"] for m in total]


@pytest.mark.parametrize("coord", ["\u0663,1", "\uff17,\uff11", "7,\u00b9", "7\u00a0,1"])
def test_coordinates_with_non_ascii_digits_or_spaces_are_a_400_everywhere(
    soma_server: LiveServer, seeded: dict, coord: str
) -> None:
    # "\u0663,1" would be read by float() as "3,1"; "\uff17,\uff11" as the seeded "7,1"
    before = snapshot(soma_server)
    with soma_server.client() as client:
        refused(client.post("/memories", json={"payload": {"a": 1}, "coord": coord}), 400, "invalid_coordinate")
        refused(client.get(f"/memories/{coord}"), 400, "invalid_coordinate")
        refused(client.delete(f"/memories/{coord}"), 400, "invalid_coordinate")
        refused(client.post("/graph/link", json={"from_coord": coord, "to_coord": "7,2"}), 400, "invalid_coordinate")
        refused(client.get("/graph/neighbors", params={"coord": coord}), 400, "invalid_coordinate")
    assert snapshot(soma_server) == before


def test_a_uuid_written_in_non_ascii_digits_is_no_reference(soma_server: LiveServer, seeded: dict) -> None:
    # uuid.UUID() reads "\u0663" * 32 as 33333333-3333-...; a reference is ASCII
    with soma_server.client() as client:
        refused(client.get("/memories/" + "\u0663" * 32), 400, "invalid_reference")
        refused(client.delete("/memories/" + "\u0663" * 32), 400, "invalid_reference")


# --- payloads the vector engine cannot represent: refused up front, on every write path ------------

POISONS = [
    f'{{"content": "poison", "n": {BIG}}}',
    '{"content": "poison", "n": [1, {"deep": -1e400}]}',
    # Below a double's smallest value: it would read back as 0.0, not as sent.
    '{"content": "poison", "n": 1e-400}',
]


@pytest.mark.parametrize("payload", POISONS)
def test_unrepresentable_numbers_in_a_payload_are_refused_on_every_write(
    soma_server: LiveServer, seeded: dict, payload: str
) -> None:
    before = snapshot(soma_server)
    with soma_server.client() as client:
        refused(client.post("/memories", content=f'{{"payload": {payload}}}'.encode()), 400, "invalid_payload")
        refused(
            client.post("/memories", content=f'{{"payload": {{"a": 1}}, "metadata": {payload}}}'.encode()),
            400,
            "invalid_payload",
        )
        refused(client.patch("/memories/7,1", content=f'{{"payload": {payload}}}'.encode()), 400, "invalid_payload")
        refused(client.patch("/memories/7,1", content=f'{{"metadata": {payload}}}'.encode()), 400, "invalid_payload")
        link = f'{{"from_coord": "7,1", "to_coord": "7,2", "metadata": {payload}}}'
        refused(client.post("/graph/link", content=link.encode()), 400, "invalid_metadata")
        # In a batch: a 422 naming the bad item's index, and none of the good items stored
        batch = f'{{"memories": [{{"payload": {{"content": "good"}}}}, {{"payload": {payload}}}]}}'
        response = client.post("/memories/batch", content=batch.encode())
        refused(response, 422, "batch_item_invalid")
        assert [(item["index"], item["code"]) for item in response.json()["detail"]] == [(1, "invalid_payload")]
    assert snapshot(soma_server) == before


def test_a_batch_item_postgresql_would_refuse_is_a_422_naming_its_index(soma_server: LiveServer, seeded: dict) -> None:
    # 1e400 parses as an infinity, which jsonb cannot hold: answered before PostgreSQL sees it
    before = snapshot(soma_server)
    items = [{"payload": {"content": f"item {i}"}} for i in range(3)]
    body = json.dumps({"memories": items})[:-2] + ', {"payload": {"content": "x", "v": 1e400}}]}'
    with soma_server.client() as client:
        response = client.post("/memories/batch", content=body.encode())
    refused(response, 422, "batch_item_invalid")
    assert [(item["index"], item["code"]) for item in response.json()["detail"]] == [(3, "invalid_payload")]
    assert snapshot(soma_server) == before


# --- the "also seen" list, settled -------------------------------------------------------------------


def test_an_empty_coordinate_is_malformed_everywhere(soma_server: LiveServer, seeded: dict) -> None:
    before = snapshot(soma_server)
    with soma_server.client() as client:
        refused(client.post("/memories", json={"payload": {"content": "x"}, "coord": ""}), 400, "invalid_coordinate")
        response = client.post("/memories/batch", json={"memories": [{"payload": {"a": 1}, "coord": ""}]})
        assert response.json()["detail"][0]["code"] == "invalid_coordinate"
        refused(client.post("/graph/link", json={"from_coord": "", "to_coord": "7,2"}), 400, "invalid_coordinate")
    assert snapshot(soma_server) == before


@pytest.mark.parametrize("importance", ["0.5", True, "1", None, [0.5]])
def test_importance_is_a_json_number_never_coerced(soma_server: LiveServer, seeded: dict, importance: Any) -> None:
    before = snapshot(soma_server)
    with soma_server.client() as client:
        refused(client.post("/memories", json={"payload": {"c": 1}, "importance": importance}), 422, "validation_error")
        if importance is not None:  # in a PATCH (and for a link's strength) null means "keep it"
            refused(client.patch("/memories/7,1", json={"importance": importance}), 422, "validation_error")
            link = {"from_coord": "7,1", "to_coord": "7,2", "strength": importance}
            refused(client.post("/graph/link", json=link), 422, "validation_error")
    assert snapshot(soma_server) == before
    with soma_server.client() as client:
        # A JSON integer is a number: accepted
        assert client.patch("/memories/7,2", json={"importance": 1}).json()["memory"]["importance"] == 1.0


# Instants pydantic reads and PostgreSQL stores, but outside years 1..9999 once in UTC: no read could
# load such a memory again (once accepted in bodies, such a memory made its namespace's lists fail).
UNREADABLE_MOMENTS = ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"]


@pytest.mark.parametrize("moment", UNREADABLE_MOMENTS)
def test_body_date_times_outside_the_readable_years_are_a_422_on_every_route(
    soma_server: LiveServer, seeded: dict, moment: str
) -> None:
    before = snapshot(soma_server)
    with soma_server.client() as client:
        refused(client.post("/memories", json={"payload": {"c": 1}, "expires_at": moment}), 422, "validation_error")
        refused(client.patch("/memories/7,1", json={"expires_at": moment}), 422, "validation_error")
        batch = client.post("/memories/batch", json={"memories": [{"payload": {"c": 1}, "expires_at": moment}]})
        first_item_refused(batch)
        for mode in MODES:
            body = {"query": "tea", "mode": mode, "recency": {"weight": 0.5}, "reference_time": moment}
            refused(client.post("/memories/search", json=body), 422, "validation_error")
            params = {"query": "tea", "mode": mode, "recency": '{"weight": 0.5}', "reference_time": moment}
            refused(client.get("/memories/search", params=params), 422, "validation_error")
            valid = {**params, "reference_time": "2026-01-01T00:00:00Z"}
            assert client.get("/memories/search", params=valid).status_code == 200  # the instant alone was refused
        forget = {"max_age_days": 1, "reference_time": moment, "dry_run": False}
        refused(client.post("/memories/forget", json=forget), 422, "validation_error")
    assert snapshot(soma_server) == before


@pytest.mark.parametrize("value", [True, "1", 1.0])
def test_a_restore_version_is_a_json_integer_never_coerced(soma_server: LiveServer, seeded: dict, value: Any) -> None:
    before = snapshot(soma_server)
    with soma_server.client() as client:
        response = client.post(f"/memories/{seeded['7,1']}/restore", json={"version": value})
    refused(response, 422, "validation_error")
    assert snapshot(soma_server) == before


@pytest.mark.parametrize("threshold", [True, False, "0.9"])
def test_a_dedupe_threshold_is_a_json_number_never_coerced(
    soma_server: LiveServer, seeded: dict, threshold: Any
) -> None:
    before = snapshot(soma_server)
    item = {"payload": {"content": "alpha tea"}, "dedupe": "semantic", "dedupe_threshold": threshold}
    with soma_server.client() as client:
        refused(client.post("/memories", json=item), 422, "validation_error")
        batch = client.post("/memories/batch", json={"memories": [item]})
        first_item_refused(batch)
    assert snapshot(soma_server) == before


@pytest.mark.parametrize("coord", [[True, False], ["7", "1"], [7, True]])
def test_a_coordinate_list_holds_json_numbers_never_coerced(soma_server: LiveServer, seeded: dict, coord: Any) -> None:
    """Coerced, [true, 1] named the coordinate "1.0,1.0" and replaced the memory stored there."""
    before = snapshot(soma_server)
    with soma_server.client() as client:
        refused(client.post("/memories", json={"payload": {"c": 1}, "coord": coord}), 422, "validation_error")
        batch = client.post("/memories/batch", json={"memories": [{"payload": {"c": 1}, "coord": coord}]})
        first_item_refused(batch)
        refused(client.post("/graph/link", json={"from_coord": coord, "to_coord": "7,2"}), 422, "validation_error")
        refused(client.post("/graph/link", json={"from_coord": "7,2", "to_coord": coord}), 422, "validation_error")
        # A list of JSON numbers, integers included, is a coordinate
        assert client.post("/graph/link", json={"from_coord": [7, 1], "to_coord": [7, 2.0]}).status_code == 200
    assert snapshot(soma_server) == before


@pytest.mark.parametrize("field", ["top_k", "offset", "expand_hops"])
@pytest.mark.parametrize("value", ["1", True, 1.0])
def test_search_numbers_in_a_json_body_are_json_integers(soma_server: LiveServer, field: str, value: Any) -> None:
    with soma_server.client() as client:
        refused(client.post("/memories/search", json={"query": "tea", field: value}), 422, "validation_error")
        # A query string is text: there "1" is the integer 1
        assert client.get("/memories/search", params={"query": "tea", field: "1"}).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer  {MASTER_TOKEN}",
        f"Bearer {MASTER_TOKEN} x",
        f"Bearer\t{MASTER_TOKEN}",
        "Bearer",
        f"Basic {MASTER_TOKEN}",
    ],
)
def test_stats_reads_the_bearer_header_like_every_other_route(soma_server: LiveServer, header: str) -> None:
    headers = {"Authorization": header}
    for path in ("/stats", "/memories", "/health"):
        response = httpx.get(soma_server.url + path, headers=headers, timeout=10)
        refused(response, 401, "unauthorized")
    assert httpx.get(soma_server.url + "/stats", headers={"Authorization": f"Bearer {MASTER_TOKEN}"}).status_code == 200
    assert httpx.get(soma_server.url + "/stats").status_code == 200


def _raw_http(server: LiveServer, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("suffix", ["%2Fhistory", "%2fhistory", "%2F"])
def test_an_encoded_slash_in_a_reference_is_a_400_not_another_route(
    soma_server: LiveServer, seeded: dict, suffix: str
) -> None:
    """The HTTP server decodes %2F before routing: "/memories/<id>%2Fhistory" was the history."""
    for ref in (seeded["7,1"], "7,1"):
        answer = _raw_http(
            soma_server,
            f"GET /memories/{ref}{suffix} HTTP/1.1\r\nHost: 127.0.0.1:{soma_server.port}\r\n"
            f"Authorization: Bearer {MASTER_TOKEN}\r\nConnection: close\r\n\r\n".encode(),
        )
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), answer[:300]
        assert b'"code": "invalid_reference"' in body, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /memories HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}",
        b"POST /memories HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"POST /memories HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}",
    ],
)
def test_malformed_http_framing_is_a_plain_400_from_the_http_server(
    soma_server: LiveServer, seeded: dict, request_bytes: bytes
) -> None:
    # Settled (docs/api.md): framing errors never reach the service, so the HTTP server (waitress)
    # answers them itself in plain text; the connection closes, nothing is stored, serving goes on.
    before = snapshot(soma_server)
    answer = _raw_http(soma_server, request_bytes.replace(b"Host: x", f"Host: 127.0.0.1:{soma_server.port}".encode()))
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"text/plain" in answer.split(b"\r\n\r\n")[0]
    assert snapshot(soma_server) == before
    assert httpx.get(soma_server.url + "/healthz").status_code == 200


# --- ties: a total order, so offset paging neither repeats nor skips ---------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_paging_over_tied_scores_sees_every_memory_once(soma_server: LiveServer, mode: str) -> None:
    with soma_server.client() as client:
        namespace = f"ties-{mode}"
        items = [{"payload": {"content": "identical twin sentence"}, "namespace": namespace} for _ in range(8)]
        stored = client.post("/memories/batch", json={"memories": items}).json()["memories"]
        pages = []
        for _ in range(3):  # the same pages again: the order holds from call to call
            page_ids = []
            for offset in (0, 3, 6):
                body = {"query": "identical twin sentence", "top_k": 3, "offset": offset, "mode": mode}
                response = client.post("/memories/search", json={**body, "namespace": namespace})
                assert response.status_code == 200, response.text
                page_ids += [hit["id"] for hit in response.json()["memories"]]
            pages.append(page_ids)
    # Every memory once, ordered by id among equal scores; and identical on every pass
    assert pages[0] == sorted(item["id"] for item in stored)
    assert pages[1] == pages[0] and pages[2] == pages[0]
