"""What the client refuses and what it cannot read: every such case is a `SomaError` subclass
(`InvalidArgument` before anything is sent, `UnexpectedAnswer` for an answer the endpoint does
not give), in both clients; and the stdio bridge's refusals, each one line, never a traceback.

The odd answers come from a small HTTP server in this process (a real socket, real HTTP), which
also records what reached it: a refused argument must not have sent anything.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import somafractalmemory_client
from somafractalmemory_client import AsyncSomaClient, Retry, SomaClient, errors, models

CLIENT_DIR = Path(__file__).parents[1]
MEMORY_ID = "7d9f3a52-3c7e-4f43-9c1e-6a1f0b3f6a10"


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FakeServer:
    """Answers every request to a path with what `answer` set for it (a 404 error otherwise)."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.seen: list[Seen] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                path = self.path.split("?", 1)[0]
                answer = fake.answers.get(path) or Answer(
                    404, json.dumps({"detail": "No such memory.", "code": "memory_not_found"}).encode()
                )
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PATCH = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, path: str, status: int = 200, body: Any = b"", **options: Any) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers[path] = Answer(status, data, **options)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def fake(fake_server: FakeServer) -> Iterator[FakeServer]:
    fake_server.answers.clear()
    fake_server.seen.clear()
    yield fake_server


Scenario = Callable[[Any], Any]  # a call on a client: its answer, or a coroutine of it


def both_clients(url: str, scenario: Scenario, **settings: Any) -> list[BaseException | Any]:
    """What `scenario` gives (or raises) on `SomaClient`, then on `AsyncSomaClient`."""
    return [outcome for pair in each_on_both_clients(url, [scenario], **settings) for outcome in pair]


def each_on_both_clients(url: str, scenarios: list[Scenario], **settings: Any) -> list[tuple[Any, Any]]:
    """For each scenario, what it gives (or raises) on `SomaClient` and on `AsyncSomaClient`
    (one client of each for them all)."""
    settings.setdefault("timeout", 5.0)
    synced: list[Any] = []
    with SomaClient(url, **settings) as soma:
        for scenario in scenarios:
            try:
                synced.append(scenario(soma))
            except Exception as exc:
                synced.append(exc)

    async def through_asyncio() -> list[Any]:
        answers: list[Any] = []
        async with AsyncSomaClient(url, **settings) as soma:
            for scenario in scenarios:
                try:
                    answers.append(await scenario(soma))
                except Exception as exc:
                    answers.append(exc)
        return answers

    return list(zip(synced, asyncio.run(through_asyncio()), strict=True))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# 1. Answers the client does not expect

HTML = b"<!doctype html><html><body>" + b"<p>502 Bad Gateway from the proxy</p>" * 40 + b"</body></html>"
DEEP = b"[" * 100_000 + b"]" * 100_000
ODD_BODIES = {
    "html": (HTML, "text/html"),
    "empty object": (b"{}", "application/json"),
    "list": (b"[1, 2]", "application/json"),
    "null": (b"null", "application/json"),
    "too deep": (DEEP, "application/json"),
    "not json": (b"\xff\xfe not json", "application/json"),
}
ENDPOINTS: dict[str, tuple[str, str, Scenario]] = {
    "get_memory": ("GET", f"/memories/{MEMORY_ID}", lambda soma: soma.get_memory(MEMORY_ID)),
    "create_memory": ("POST", "/memories", lambda soma: soma.create_memory({"content": "x"})),
    "search": ("POST", "/memories/search", lambda soma: soma.search("tea")),
    "neighbors": ("GET", "/graph/neighbors", lambda soma: soma.neighbors("1,2")),
    "health": ("GET", "/health", lambda soma: soma.health()),
}


@pytest.mark.parametrize("kind", ODD_BODIES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_200_that_is_not_the_endpoint_s_answer_is_an_unexpected_answer(
    fake: FakeServer, kind: str, endpoint: str
) -> None:
    method, path, scenario = ENDPOINTS[endpoint]
    body, content_type = ODD_BODIES[kind]
    fake.answer(path, 200, body, content_type=content_type)

    for outcome in both_clients(fake.url, scenario):
        assert isinstance(outcome, errors.UnexpectedAnswer), outcome
        assert (outcome.method, outcome.path, outcome.status) == (method, path, 200)
        message = str(outcome)
        assert f"{method} {path}" in message and "200" in message
        assert len(message) < 600  # the body is shown truncated; `.body` has it all
        assert outcome.body == body.decode("utf-8", "replace")
    assert len(fake.seen) == 2  # one try each: an odd answer is not retried


@pytest.mark.parametrize(
    "body, content_type",
    [
        (
            json.dumps({"detail": "A dependency is unavailable.", "code": "service_unavailable"}).encode(),
            "application/json",
        ),
        (HTML, "text/html"),
        (b"", "text/plain"),
    ],
    ids=["error-shaped", "proxy html", "empty"],
)
def test_a_503_from_readyz_that_is_not_the_checks_is_an_unexpected_answer(
    fake: FakeServer, body: bytes, content_type: str
) -> None:
    fake.answer("/readyz", 503, body, content_type=content_type)

    for outcome in both_clients(fake.url, lambda soma: soma.readyz()):
        assert isinstance(outcome, errors.UnexpectedAnswer), outcome
        assert (outcome.method, outcome.path, outcome.status) == ("GET", "/readyz", 503)


def test_a_503_from_readyz_with_the_checks_is_still_its_answer(fake: FakeServer) -> None:
    checks = {"kv_store": True, "vector_store": False, "graph_store": True, "cache": True}
    fake.answer("/readyz", 503, checks)

    for outcome in both_clients(fake.url, lambda soma: soma.readyz()):
        assert isinstance(outcome, models.Readiness) and outcome.ready is False


def test_an_undecodable_body_or_a_redirect_is_an_unexpected_answer(fake: FakeServer) -> None:
    fake.answer("/stats", 200, b"this is not gzip", headers={"Content-Encoding": "gzip"})
    fake.answer("/healthz", 302, b"", headers={"Location": "/elsewhere"})
    fake.answer("/health", 200, gzip.compress(b"<html>hi</html>"), headers={"Content-Encoding": "gzip"})

    for scenario, path, status in (
        (lambda soma: soma.stats(), "/stats", None),
        (lambda soma: soma.healthz(), "/healthz", 302),
        (lambda soma: soma.health(), "/health", 200),
    ):
        for outcome in both_clients(fake.url, scenario):
            assert isinstance(outcome, errors.UnexpectedAnswer), outcome
            assert (outcome.path, outcome.status) == (path, status)


def test_an_error_page_that_is_not_the_api_s_is_still_its_status_s_error(fake: FakeServer) -> None:
    fake.answer("/stats", 502, HTML, content_type="text/html")

    for outcome in both_clients(fake.url, lambda soma: soma.stats()):
        assert isinstance(outcome, errors.ApiError) and outcome.status == 502


# 2. Settings


@pytest.mark.parametrize(
    "settings",
    [
        {"attempts": 0},
        {"attempts": -1},
        {"attempts": True},
        {"attempts": 1.5},
        {"backoff": -1.0},
        {"max_backoff": math.nan},
        {"max_wait": math.inf},
    ],
    ids=str,
)
def test_a_retry_policy_that_cannot_work_is_refused_when_made(settings: dict[str, Any]) -> None:
    with pytest.raises(errors.InvalidArgument) as refused:
        Retry(**settings)
    assert next(iter(settings)) in str(refused.value)


def test_one_attempt_is_one_try_and_no_retry(fake: FakeServer) -> None:
    fake.answer("/stats", 503, {"detail": "down", "code": "service_unavailable"})

    for outcome in both_clients(fake.url, lambda soma: soma.stats(), retry=Retry(attempts=1)):
        assert isinstance(outcome, errors.ServiceUnavailable)
    assert len(fake.seen) == 2


@pytest.mark.parametrize("base_url", ["http://[::1", "http://host:port", "ftp://example.com", "localhost:9595", ""])
def test_a_malformed_base_url_is_refused_when_the_client_is_made(base_url: str) -> None:
    for client in (SomaClient, AsyncSomaClient):
        with pytest.raises(errors.InvalidArgument) as refused:
            client(base_url)
        assert "base_url" in str(refused.value)


@pytest.mark.parametrize(
    "settings",
    [
        {"token": "tökén"},
        {"token": "abc\ndef"},
        {"token": "abc\r\nX-Injected: 1"},
        {"tenant": "café"},
        {"tenant": "a\x00b"},
        {"tenant": "tab\there"},
        {"retry": 3},
    ],
    ids=repr,
)
def test_a_token_or_tenant_no_header_can_carry_is_refused_when_the_client_is_made(
    fake: FakeServer, settings: dict[str, Any]
) -> None:
    for client in (SomaClient, AsyncSomaClient):
        with pytest.raises(errors.InvalidArgument) as refused:
            client(fake.url, **settings)
        assert next(iter(settings)) in str(refused.value)
    assert fake.seen == []


# 3. and 4. Arguments


def nested(depth: int) -> list[Any]:
    root: list[Any] = []
    inner = root
    for _ in range(depth):
        inner.append([])
        inner = inner[0]
    return root


NAN_PAYLOAD: Scenario = lambda soma: soma.create_memory({"content": "x", "score": math.nan})  # noqa: E731
BAD_VALUES: dict[str, Scenario] = {
    "non-ASCII idempotency key": lambda soma: soma.create_memory({"content": "x"}, idempotency_key="clé"),
    "newline in idempotency key": lambda soma: soma.create_memory({"content": "x"}, idempotency_key="k\n1"),
    "control character in idempotency key": lambda soma: soma.create_batch([], idempotency_key="k\x7f"),
    "blank idempotency key": lambda soma: soma.create_memory({"content": "x"}, idempotency_key="  "),
    "query too long for a URL": lambda soma: soma.search("tea " * 50_000, use_get=True),
    "query not a str": lambda soma: soma.search(None, use_get=True),
    "NaN in a payload": NAN_PAYLOAD,
    "infinity in a patch": lambda soma: soma.update_memory(MEMORY_ID, importance=math.inf),
    "set in a payload": lambda soma: soma.create_memory({"tags": {"a", "b"}}),
    "bytes in a payload": lambda soma: soma.create_memory({"content": b"x"}),
    "object in a payload": lambda soma: soma.create_memory({"content": object()}),
    "surrogate in a payload": lambda soma: soma.create_memory({"content": "\ud800"}),
    "surrogate in a query": lambda soma: soma.search("\udfff", use_get=True),
    "NaN in filters": lambda soma: soma.list_memories(filters={"score": math.nan}),
    "set in a batch item": lambda soma: soma.create_batch([{"payload": {"tags": {1}}}]),
    "surrogate ref": lambda soma: soma.get_memory("\ud800"),
    "payload nested too deeply": lambda soma: soma.create_memory({"content": "x", "tree": nested(5_000)}),
    "filters nested too deeply": lambda soma: soma.list_memories(filters={"tree": nested(5_000)}),
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_bad_argument_value_is_refused_before_anything_is_sent(fake: FakeServer, case: str) -> None:
    started = time.monotonic()
    outcomes = both_clients(fake.url, BAD_VALUES[case], token="t", retry=Retry(attempts=4, backoff=1.0))
    elapsed = time.monotonic() - started

    for outcome in outcomes:
        assert isinstance(outcome, errors.InvalidArgument), outcome
        assert isinstance(outcome, ValueError)  # also what code catching ValueError expects
    assert fake.seen == []  # nothing was sent
    assert elapsed < 0.9  # and nothing was retried (a retry would wait at least 0.5 s)


BAD_REFS: list[Any] = [
    None,
    1,
    1.5,
    True,
    ["a"],
    [None],
    [True, 1.0],
    [],
    [math.nan, 1.0],
    b"1,2",
    bytearray(b"1,2"),
    {"x": 1},
    {1.0, 2.0},
    "",
    "   ",
    f"{MEMORY_ID}/history",
    "1,2/restore",
    ".",
    "..",
]
REF_TAKERS: dict[str, Callable[[Any, Any], Any]] = {
    "get_memory": lambda soma, ref: soma.get_memory(ref),
    "update_memory": lambda soma, ref: soma.update_memory(ref, importance=0.5),
    "delete_memory": lambda soma, ref: soma.delete_memory(ref),
    "history": lambda soma, ref: soma.history(ref),
    "restore": lambda soma, ref: soma.restore(ref),
    "link from": lambda soma, ref: soma.link(ref, "1,2"),
    "link to": lambda soma, ref: soma.link(MEMORY_ID, ref),
    "unlink": lambda soma, ref: soma.unlink("1,2", ref),
    "links": lambda soma, ref: soma.links(ref),
    "neighbors": lambda soma, ref: soma.neighbors(ref),
    "path": lambda soma, ref: soma.path(ref, "1,2"),
}


@pytest.mark.parametrize("taker", REF_TAKERS)
def test_a_ref_that_names_no_memory_is_refused_before_anything_is_sent(fake: FakeServer, taker: str) -> None:
    take = REF_TAKERS[taker]
    outcomes = each_on_both_clients(fake.url, [lambda soma, ref=ref: take(soma, ref) for ref in BAD_REFS])

    for ref, pair in zip(BAD_REFS, outcomes, strict=True):
        assert all(isinstance(outcome, errors.InvalidArgument) for outcome in pair), (ref, pair)
    assert fake.seen == []


@pytest.mark.parametrize("memories", [[None], [{"payload": {}}, "x"], "not a list", None, {"payload": {}}], ids=repr)
def test_a_batch_that_is_not_a_list_of_mappings_is_refused(fake: FakeServer, memories: Any) -> None:
    for outcome in both_clients(fake.url, lambda soma: soma.create_batch(memories)):
        assert isinstance(outcome, errors.InvalidArgument), outcome
    assert fake.seen == []


@pytest.mark.parametrize(
    "ref, path",
    [
        (MEMORY_ID, f"/memories/{MEMORY_ID}"),
        (uuid.UUID(MEMORY_ID), f"/memories/{MEMORY_ID}"),
        ("1,2,3", "/memories/1,2,3"),
        ((1, 2.5), "/memories/1.0,2.5"),
        (range(1, 3), "/memories/1.0,2.0"),
        ("a b?c#d%e", "/memories/a%20b%3Fc%23d%25e"),
        ("...", "/memories/..."),
        ("caf\u00e9", "/memories/caf%C3%A9"),
        ("back\\slash", "/memories/back%5Cslash"),
    ],
    ids=repr,
)
def test_a_good_ref_is_one_percent_encoded_path_segment(fake: FakeServer, ref: Any, path: str) -> None:
    for outcome in both_clients(fake.url, lambda soma: soma.get_memory(ref)):
        assert isinstance(outcome, errors.MemoryNotFound)  # what the fake answers
    assert [seen.path for seen in fake.seen] == [path, path]


def test_bytes_are_no_coordinate_but_numbers_are(fake: FakeServer) -> None:
    # b"1,2" iterates as 49, 44, 50: it was looked up as that coordinate.
    for outcome in both_clients(fake.url, lambda soma: soma.get_memory(b"1,2")):
        assert isinstance(outcome, errors.InvalidArgument)
    for outcome in both_clients(fake.url, lambda soma: soma.link([1, 2], (3.5, 4))):
        assert isinstance(outcome, errors.MemoryNotFound)
    assert [json.loads(seen.body) for seen in fake.seen] == [
        {"from_coord": [1.0, 2.0], "to_coord": [3.5, 4.0], "link_type": "related"}
    ] * 2


def test_the_new_errors_are_exported_and_documented() -> None:
    readme = (CLIENT_DIR / "README.md").read_text()
    for error in (errors.InvalidArgument, errors.UnexpectedAnswer):
        assert issubclass(error, somafractalmemory_client.SomaError)
        assert getattr(somafractalmemory_client, error.__name__) is error
        assert error.__name__ in somafractalmemory_client.__all__
        assert f"`{error.__name__}`" in readme


# 5. The stdio bridge (the `bridge` fixture of conftest.py runs it)

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}


def test_the_bridge_answers_initialize_with_an_error_when_the_server_cannot_be_reached(bridge: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there any more
    answer, code, stderr = bridge.run(bridge.env(SOMA_URL=url, SOMA_API_TOKEN="t"), send=INITIALIZE)

    assert answer["id"] == 1 and "result" not in answer
    assert answer["error"]["message"].startswith(f"could not reach {url}/mcp")
    assert code == 0  # it ran until the host closed stdin
    assert "Traceback" not in stderr and stderr.strip().splitlines() == [
        f"soma-mcp-bridge: {answer['error']['message']}"
    ]


def test_the_bridge_answers_with_the_401_when_the_token_is_refused(fake: FakeServer, bridge: Any) -> None:
    detail = {"detail": "Missing or invalid bearer token.", "code": "unauthorized"}
    fake.answer("/mcp", 401, detail, headers={"WWW-Authenticate": 'Bearer realm="soma"'})
    answer, code, stderr = bridge.run(bridge.env(SOMA_URL=fake.url, SOMA_API_TOKEN="wrong"), send=INITIALIZE)

    message = answer["error"]["message"]
    assert answer["id"] == 1 and message.startswith("401 unauthorized") and "check the token" in message
    assert answer["error"]["data"] == {"status": 401}
    assert fake.seen[0].headers["authorization"] == "Bearer wrong"
    assert code == 0 and "Traceback" not in stderr


def test_the_bridge_passes_a_json_rpc_error_of_the_server_on_as_it_is(fake: FakeServer, bridge: Any) -> None:
    error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Bad request from the server"}}
    fake.answer("/mcp", 400, error)
    answer, _, _ = bridge.run(bridge.env(SOMA_URL=fake.url, SOMA_API_TOKEN="t"), send=INITIALIZE)

    assert answer == {"jsonrpc": "2.0", "id": 1, "error": {"code": -32600, "message": "Bad request from the server"}}


BAD_BRIDGE_SETTINGS: dict[str, tuple[dict[str, str], list[str], str]] = {
    "token file env": (
        {"SOMA_API_TOKEN_FILE": "/nonexistent/token"},
        [],
        "cannot read the token file /nonexistent/token",
    ),
    "token file arg": ({}, ["--token-file", "/nonexistent/token"], "cannot read the token file"),
    "tenant": ({"SOMA_API_TOKEN": "t", "SOMA_TENANT": "café"}, [], "tenant"),
    "tenant tab": ({"SOMA_API_TOKEN": "t", "SOMA_TENANT": "a\tb"}, [], "tenant"),
    "token": ({"SOMA_API_TOKEN": "tök"}, [], "token"),
    "token newline": ({}, ["--token", "a\nb"], "token"),
    "no token": ({}, [], "give a token"),
    "url": ({"SOMA_API_TOKEN": "t", "SOMA_URL": "http://[::1"}, [], "is not a URL"),
    "ftp": ({"SOMA_API_TOKEN": "t", "SOMA_URL": "ftp://example.com"}, [], "http://"),
}


def test_a_bridge_setting_that_cannot_work_is_one_line_and_exit_status_2(bridge: Any) -> None:
    # Each case is its own bridge process; they run side by side.
    with ThreadPoolExecutor(len(BAD_BRIDGE_SETTINGS)) as pool:
        runs = {
            name: pool.submit(bridge.run, bridge.env(**env), *args)
            for name, (env, args, _) in BAD_BRIDGE_SETTINGS.items()
        }
        outcomes = {name: run.result(timeout=60) for name, run in runs.items()}

    for name, (answer, code, stderr) in outcomes.items():
        said = BAD_BRIDGE_SETTINGS[name][2]
        lines = stderr.strip().splitlines()
        assert code == 2 and answer is None, (name, code, stderr)
        assert len(lines) == 1 and lines[0].startswith("soma-mcp-bridge: ") and said in lines[0], (name, stderr)
