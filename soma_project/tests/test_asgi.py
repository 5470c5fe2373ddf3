"""The ASGI application that gunicorn's uvicorn workers serve (soma_project.asgi)."""

import asyncio
import inspect
import threading
from collections.abc import Iterator

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.core import signals

from conftest import MASTER_TOKEN
from memories.models import Memory
from soma_project.asgi import application, django_application

# Requests run on threads of their own, so they need committed data, not a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)

HEADERS = {"Authorization": f"Bearer {MASTER_TOKEN}", "X-Soma-Tenant": "asgi"}


def request(method: str, path: str, loop_threads: set[int] | None = None, **kwargs: object) -> httpx.Response:
    async def send() -> httpx.Response:
        if loop_threads is not None:
            loop_threads.add(threading.get_ident())
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=HEADERS) as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return async_to_sync(send)()


@pytest.fixture
def threads() -> Iterator[dict[str, set[int]]]:
    """Which threads sent request_started and request_finished."""
    seen: dict[str, set[int]] = {"started": set(), "finished": set()}

    def started(**kwargs: object) -> None:
        seen["started"].add(threading.get_ident())

    def finished(**kwargs: object) -> None:
        seen["finished"].add(threading.get_ident())

    signals.request_started.connect(started, weak=False)
    signals.request_finished.connect(finished, weak=False)
    yield seen
    signals.request_started.disconnect(started)
    signals.request_finished.disconnect(finished)


def test_the_middleware_chain_is_loaded_synchronous() -> None:
    # One thread hop per request, not one per middleware method (the reason for the handler).
    assert not inspect.iscoroutinefunction(django_application._middleware_chain)
    assert not asyncio.iscoroutinefunction(django_application._middleware_chain)


def test_a_write_and_a_read_through_asgi() -> None:
    created = request("POST", "/memories", json={"coord": "1,2", "payload": {"text": "over asgi"}})

    assert created.status_code == 200, created.text
    assert Memory.objects.get(tenant="asgi").payload == {"text": "over asgi"}
    fetched = request("GET", "/memories/1,2")
    assert (fetched.status_code, fetched.json()["memory"]["payload"]) == (200, {"text": "over asgi"})


def test_errors_keep_the_api_shape_through_asgi() -> None:
    missing = request("GET", "/memories/9,9")
    refused = request("POST", "/memories", content=b"{not json", headers={"Content-Type": "application/json"})
    wrong_method = request("PUT", "/healthz")

    assert (missing.status_code, missing.json()["code"]) == (404, "memory_not_found")
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_json")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["detail"] == "Method not allowed."
    assert not Memory.objects.exists()


def test_a_request_starts_and_finishes_on_one_worker_thread(threads: dict[str, set[int]]) -> None:
    # request_finished returns the thread's pooled connection: it must run where the view ran.
    loop_threads: set[int] = set()

    assert request("GET", "/memories", loop_threads, params={"limit": 1}).status_code == 200

    assert len(threads["started"]) == 1
    assert threads["started"] == threads["finished"]
    assert loop_threads and not loop_threads & threads["started"]


def test_an_encoded_slash_in_a_reference_is_a_400_under_asgi_too() -> None:
    # httpx's ASGI transport gives the scope's raw_path as sent, as uvicorn does.
    response = request("GET", "/memories/00000000-0000-0000-0000-000000000001%2Fhistory")

    assert (response.status_code, response.json()["code"]) == (400, "invalid_reference")
