"""Hostile input, secrets in logs, constant-time token checks and security headers, over real HTTP."""

from __future__ import annotations

import ast
import json
import uuid

import httpx
import pytest

from reliability.processes import MASTER_TOKEN, ROOT, LiveServer
from tests_support.factories import api_key

SECRET_PAYLOAD = "zebra-secret-payload-91c4e"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


def _count(server: LiveServer) -> int:
    return int(server.client().get("/stats").json()["total_memories"])


# --- tokens compared in constant time --------------------------------------------------------


@pytest.mark.parametrize("path", ["soma_project/auth.py", "accounts/services.py"])
def test_secrets_are_compared_with_compare_digest_only(path: str) -> None:
    # Given the modules that check bearer tokens and API key secrets
    tree = ast.parse((ROOT / path).read_text())
    secretish = ("token", "secret", "master", "hash", "digest")

    # Then no == / != touches a secret, and hmac.compare_digest does the comparing
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            names = ast.unparse(node).lower()
            assert not any(word in names for word in secretish), (
                f"{path}:{node.lineno} compares a secret: {ast.unparse(node)}"
            )
    assert "hmac.compare_digest" in ast.unparse(tree)


def test_near_miss_tokens_are_refused(soma_server: LiveServer) -> None:
    for token in (
        MASTER_TOKEN[:-1],
        MASTER_TOKEN + "x",
        MASTER_TOKEN.upper(),
        "sfm_abcdefgh_" + "x" * 40,
        "Bearer",
        "a b",
    ):
        response = soma_server.client(token=None).get("/memories", headers={"Authorization": f"Bearer {token}"})
        assert (response.status_code, response.json()["code"]) == (401, "unauthorized"), token
        assert response.headers["www-authenticate"].startswith("Bearer")


# --- nothing secret in the logs ---------------------------------------------------------------


def test_no_token_key_or_payload_in_logs(soma_server: LiveServer) -> None:
    # Given a real API key and a distinctive payload, with the server logging at DEBUG
    key = api_key(soma_server, "logcheck")
    wrong_token = "wrong-token-" + SECRET_PAYLOAD
    master = soma_server.client()
    keyed = soma_server.client(token=key)

    # When requests carrying them succeed and fail in every way that logs
    assert keyed.post("/memories", json={"payload": {"content": SECRET_PAYLOAD}, "coord": "5,5,5"}).status_code == 200
    assert keyed.get("/memories", params={"filters": json.dumps({"content": SECRET_PAYLOAD})}).status_code == 200
    assert keyed.get("/memories", headers={"X-Soma-Tenant": "other"}).status_code == 403
    assert soma_server.client(token=wrong_token).get("/memories").status_code == 401
    assert master.post("/memories", content=f'{{"payload": "{SECRET_PAYLOAD}"'.encode()).status_code == 400
    assert master.post("/memories", json={"payload": {"content": SECRET_PAYLOAD}, "importance": 7}).status_code == 422
    assert master.post("/memories", json={"payload": {"content": SECRET_PAYLOAD}, "coord": "x,y"}).status_code == 400
    assert master.post("/memories/batch", json={"memories": [{"payload": SECRET_PAYLOAD}]}).status_code == 422
    assert (
        master.post(
            "/graph/link",
            json={"from_id": str(uuid.UUID(int=1)), "to_coord": "9,9,9", "metadata": {"s": SECRET_PAYLOAD}},
        ).status_code
        == 404
    )
    assert master.post("/memories", json={"payload": {"content": SECRET_PAYLOAD * 50_000}}).status_code == 413

    # Then the server's log (everything it wrote at DEBUG) holds none of them
    log = soma_server.log_text()
    assert "DEBUG" in log or "WARNING" in log  # the log is really being written
    # sfm_<key_id>_<secret>: the secret itself may contain "_", so split twice only.
    for secret in (MASTER_TOKEN, key, key.split("_", 2)[2], wrong_token, SECRET_PAYLOAD):
        assert secret not in log, f"{secret[:12]}... appears in the server log"


# --- hostile bodies ---------------------------------------------------------------------------


def test_oversized_bodies_are_refused_with_413(soma_server: LiveServer) -> None:
    client = soma_server.client()
    before = _count(soma_server)
    big = json.dumps({"payload": {"content": "x" * (2 * 1024 * 1024)}}).encode()

    declared = client.post("/memories", content=big, headers={"content-type": "application/json"})
    chunked = client.post("/memories", content=iter([big[i : i + 65536] for i in range(0, len(big), 65536)]))

    for response in (declared, chunked):
        assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")
    assert _count(soma_server) == before


def test_deeply_nested_bodies_are_refused_with_400(soma_server: LiveServer) -> None:
    client = soma_server.client()
    before = _count(soma_server)
    too_deep_to_parse = '{"payload": ' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "}"
    deeper_than_allowed = {"payload": json.loads('{"a": ' * 40 + "1" + "}" * 40)}

    parse = client.post("/memories", content=too_deep_to_parse.encode(), headers={"content-type": "application/json"})
    depth = client.post("/memories", json=deeper_than_allowed)
    link = client.post(
        "/graph/link", content=b"[" * 50_000 + b"]" * 50_000, headers={"content-type": "application/json"}
    )

    assert (parse.status_code, parse.json()["code"]) == (400, "invalid_json")
    assert (depth.status_code, depth.json()["code"]) == (400, "invalid_payload")
    assert link.status_code == 400 and set(link.json()) == {"detail", "code"}
    assert _count(soma_server) == before


@pytest.mark.parametrize(
    "body",
    [
        b'{"payload": {"content": "caf\xe9"}}',  # Latin-1, not UTF-8
        b'{"payload": {"content": "\xff\xfe"}}',
        b'{"payload": {"content": "\\ud800"}}',  # an unpaired surrogate escape
        b'{"payload": {"content": "a\\u0000b"}}',  # NUL, which PostgreSQL cannot store
        b'{"payload": {"a\\u0000": 1}}',
        b'{"payload": {}, "importance": NaN}',
    ],
)
def test_undecodable_or_unstorable_bodies_are_refused_with_400(soma_server: LiveServer, body: bytes) -> None:
    before = _count(soma_server)
    response = soma_server.client().post("/memories", content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_json")
    assert _count(soma_server) == before


# --- filters cannot reach SQL or the Qdrant filter language ------------------------------------

HOSTILE_KEYS = [
    "a'; DROP TABLE memories_memory; --",
    "payload->>'x'",
    'a"b',
    "$.x",
    "x) OR (1=1",
    "a b",
    "__proto__[x]",
    "",
    "a" * 200,
    "..",
    "a..b",
    ".a",
]
HOSTILE_VALUES = ["' OR '1'='1", "%", "_", "\\", '"}', "*", "$[*]", "a' || pg_sleep(5) --", "[]", "{}"]


WHO = {"quote_value": "' OR '1'='1", "percent": "%"}


@pytest.fixture(scope="module")
def filter_corpus(soma_server: LiveServer) -> dict[str, str]:
    client = soma_server.client(tenant="filters")
    ids = {}
    bodies = {
        "in_key": {"in": "x", "content": "a key named like a lookup"},
        "contains_key": {"contains": "y", "content": "another lookup-like key"},
        "quote_value": {"who": "' OR '1'='1", "content": "value holding SQL"},
        "percent": {"who": "%", "content": "a percent sign"},
        "nested": {"a": {"b": {"c": 1}}, "content": "nested"},
    }
    for name, payload in bodies.items():
        ids[name] = client.post("/memories", json={"payload": payload, "namespace": "hostile"}).json()["memory"]["id"]
    return ids


def _list_ids(server: LiveServer, filters: dict[str, object]) -> httpx.Response:
    return server.client(tenant="filters").get(
        "/memories", params={"namespace": "hostile", "filters": json.dumps(filters), "limit": 500}
    )


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_filter_keys_are_refused(soma_server: LiveServer, filter_corpus: dict[str, str], key: str) -> None:
    response = _list_ids(soma_server, {key: "x"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_filter")


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_filter_values_match_only_themselves(
    soma_server: LiveServer, filter_corpus: dict[str, str], value: str
) -> None:
    response = _list_ids(soma_server, {"who": value})
    assert response.status_code == 200
    found = {item["id"] for item in response.json()["items"]}
    assert found == {filter_corpus[name] for name, stored in WHO.items() if stored == value}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"in": "x"}, {"in_key"}),
        ({"contains": "y"}, {"contains_key"}),
        ({"in": {"in": ["x"]}}, {"in_key"}),
        ({"a.b.c": 1}, {"nested"}),
        ({"a.b": {"gte": 0}}, set()),
        ({"who": "%"}, {"percent"}),
    ],
)
def test_lookup_like_keys_stay_json_keys(
    soma_server: LiveServer, filter_corpus: dict[str, str], filters: dict[str, object], expected: set[str]
) -> None:
    response = _list_ids(soma_server, filters)
    assert response.status_code == 200
    assert {item["id"] for item in response.json()["items"]} == {filter_corpus[name] for name in expected}


@pytest.mark.parametrize("key", HOSTILE_KEYS[:6])
def test_hostile_filters_through_search(soma_server: LiveServer, filter_corpus: dict[str, str], key: str) -> None:
    client = soma_server.client(tenant="filters")
    for mode in ("vector", "keyword", "hybrid"):
        body = {"query": "lookup", "namespace": "hostile", "filters": {key: "x"}, "mode": mode}
        response = client.post("/memories/search", json=body)
        assert (response.status_code, response.json()["code"]) == (400, "invalid_filter"), (mode, response.text[:200])
    for value in HOSTILE_VALUES:
        body = {"query": "SQL", "namespace": "hostile", "filters": {"who": value}, "top_k": 10}
        response = client.post("/memories/search", json=body)
        assert response.status_code == 200, response.text[:200]
        expected = {filter_corpus[name] for name, stored in WHO.items() if stored == value}
        assert {hit["id"] for hit in response.json()["memories"]} <= expected


# --- security headers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "token"),
    [
        ("/memories", True),
        ("/memories", False),
        ("/healthz", False),
        ("/openapi.json", False),
        ("/admin/login/", False),
        ("/admin/", False),
        ("/metrics", False),
        ("/nowhere", False),
    ],
)
def test_security_headers_on_api_and_admin(soma_server: LiveServer, path: str, token: bool) -> None:
    client = soma_server.client(token=MASTER_TOKEN if token else None)
    response = client.get(path)
    assert response.status_code < 500
    for header, value in SECURITY_HEADERS.items():
        assert response.headers.get(header) == value, (path, header, response.headers.get(header))


def test_error_pages_are_json_not_html(soma_server: LiveServer) -> None:
    client = soma_server.client()
    for response in (client.get("/nowhere"), client.post("/memories/x/y/z", json={}), client.put("/memories", json={})):
        assert response.headers["content-type"].startswith("application/json"), response.text[:100]
        assert set(response.json()) == {"detail", "code"}
