"""somafractalmemory_client against a live server: every endpoint, typed answers, typed errors, retries."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import somafractalmemory_client
from somafractalmemory_client import AsyncSomaClient, Call, Retry, SomaClient, calls, errors, models
from somafractalmemory_client.endpoints import Endpoints, endpoint

from reliability.processes import MASTER_TOKEN, LiveServer
from reliability.tests.conftest import query
from tests_support.factories import api_key


def _tenant_client(server: LiveServer, tenant: str, **kwargs: Any) -> SomaClient:
    return SomaClient(server.url, token=MASTER_TOKEN, tenant=tenant, **kwargs)


def _count(server: LiveServer, tenant: str) -> int:
    return int(
        query(server.env["DATABASE_URL"], "SELECT count(*) FROM memories_memory WHERE tenant = %s", (tenant,))[0][0]
    )


def test_the_client_under_test_is_this_repository_s() -> None:
    # pytest.ini puts client/ first on the path: an installed copy would hide the changes here.
    assert Path(somafractalmemory_client.__file__).parent == Path(__file__).parents[1] / "somafractalmemory_client"


def test_both_clients_have_every_call_as_a_method_with_its_arguments() -> None:
    builders = {
        name
        for name, value in vars(calls).items()
        if inspect.isfunction(value)
        and value.__module__ == calls.__name__
        and inspect.signature(value).return_annotation.startswith("Call[")
    }
    endpoints = {name for name, value in vars(Endpoints).items() if isinstance(value, endpoint)}
    soma, asoma = SomaClient("http://127.0.0.1:9"), AsyncSomaClient("http://127.0.0.1:9")

    assert endpoints == builders and len(builders) == 20
    for name in builders:
        built = inspect.signature(getattr(calls, name))
        assert inspect.signature(getattr(soma, name)) == built
        assert inspect.signature(getattr(asoma, name)) == built
        assert not inspect.iscoroutinefunction(getattr(soma, name))
        assert inspect.iscoroutinefunction(getattr(asoma, name))
    assert isinstance(calls.search("tea"), Call)
    soma.close()
    asyncio.run(asoma.aclose())


def test_an_unreachable_server_raises_a_transport_error_after_the_retries() -> None:
    retry = Retry(attempts=3, backoff=0.01, max_backoff=0.01)  # nothing listens on port 9

    async def through_asyncio() -> None:
        async with AsyncSomaClient("http://127.0.0.1:9", retry=retry) as soma:
            await soma.healthz()

    with SomaClient("http://127.0.0.1:9", retry=retry) as soma, pytest.raises(errors.TransportError):
        soma.healthz()
    with pytest.raises(errors.TransportError):
        asyncio.run(through_asyncio())


def test_memory_endpoints(soma_live: LiveServer) -> None:
    with _tenant_client(soma_live, "mem") as soma:
        created = soma.create_memory(
            {"content": "Alice prefers green tea"}, coord=[1, 2, 3], metadata={"user_id": "u1"}, importance=0.5
        )
        replaced = soma.create_memory({"content": "Alice prefers oolong"}, coord="1.0,2.0,3.0")
        got = soma.get_memory("1,2,3")
        by_id = soma.get_memory(created.memory.id)
        updated = soma.update_memory(created.memory.id, metadata={"user_id": "u2"}, importance=0.9)
        batch = soma.create_batch(
            [{"payload": {"content": f"note {i}"}, "metadata": {"user_id": "u3"}} for i in range(3)]
        )
        page = soma.list_memories(filters={"user_id": "u3"}, limit=2)
        every = list(soma.iter_memories(filters={"user_id": "u3"}, limit=2))
        deleted = soma.delete_memory("1,2,3")
        deleted_again = soma.delete_memory("1,2,3")

    assert isinstance(created, models.MemoryCreated) and isinstance(created.memory, models.Memory)
    assert created.memory.coord == "1.0,2.0,3.0" and created.memory.coordinate == [1.0, 2.0, 3.0]
    assert created.memory.metadata == {"user_id": "u1"} and created.memory.importance == 0.5
    assert replaced.memory.id == created.memory.id and replaced.created is False
    assert got.payload == {"content": "Alice prefers oolong"} and by_id.id == created.memory.id
    assert (updated.metadata, updated.importance) == ({"user_id": "u2"}, 0.9)
    assert isinstance(updated.created_at, type(created.memory.created_at))
    assert (batch.created, batch.updated, len(batch.memories)) == (3, 0, 3)
    assert len(page.items) == 2 and page.next_cursor is not None
    assert {memory.id for memory in every} == {item.id for item in batch.memories}
    assert deleted.deleted is True and deleted.id == created.memory.id
    assert deleted_again.deleted is False  # idempotent: what is not there is "not deleted", not an error
    assert _count(soma_live, "mem") == 3


def test_history_restore_and_forget(soma_live: LiveServer) -> None:
    with _tenant_client(soma_live, "hist") as soma:
        created = soma.create_memory({"content": "Bob plays chess"}, coord="5,5")
        soma.update_memory(created.memory.id, payload={"content": "Bob plays go"})
        soma.delete_memory(created.memory.id)
        history = soma.history(created.memory.id)
        restored = soma.restore(created.memory.id)
        dry = soma.forget(max_age_days=0)
        real = soma.forget(max_age_days=0, dry_run=False)

    assert [entry.event for entry in history.items] == ["deleted", "updated", "created"]
    assert history.items[1].memory.payload == {"content": "Bob plays go"}
    # The last version before the deletion (2, the update) comes back as version 4.
    assert restored.memory.id == created.memory.id and restored.restored_version == 2
    assert restored.memory.version == 4
    assert restored.memory.payload == {"content": "Bob plays go"}
    assert (dry.dry_run, dry.count, dry.ids) == (True, 1, [created.memory.id])
    assert (real.dry_run, real.count, real.ids) == (False, 1, [created.memory.id])
    assert _count(soma_live, "hist") == 0


def test_search_by_post_and_get(soma_live: LiveServer) -> None:
    with _tenant_client(soma_live, "find") as soma:
        tea = soma.create_memory({"content": "Alice drinks green tea every morning"}, metadata={"user_id": "u1"})
        soma.create_memory({"content": "The quarterly report is due on Friday"}, metadata={"user_id": "u2"})
        posted = soma.search("what does Alice drink", top_k=1)
        got = soma.search("what does Alice drink", top_k=1, use_get=True)
        keyword = soma.search("quarterly", mode="keyword")
        filtered = soma.search("Friday report", filters={"user_id": "u1"})

    assert isinstance(posted, models.SearchResult) and posted.degraded is False
    assert [hit.id for hit in posted.memories] == [tea.memory.id]
    assert posted.memories[0].score is not None and posted.memories[0].score > 0
    assert [hit.id for hit in got.memories] == [tea.memory.id]
    assert [hit.payload["content"] for hit in keyword.memories] == ["The quarterly report is due on Friday"]
    assert {hit.metadata["user_id"] for hit in filtered.memories} == {"u1"}


def test_graph_endpoints(soma_live: LiveServer) -> None:
    with _tenant_client(soma_live, "graph") as soma:
        a = soma.create_memory({"content": "kettle"}, coord="1,0").memory
        soma.create_memory({"content": "water"}, coord="2,0")
        saved = soma.link(a.id, "2,0", link_type="heats", strength=0.7)
        again = soma.link("1,0", [2, 0], link_type="heats", strength=0.8)
        soma.create_memory({"content": "tea"}, coord="3,0")
        soma.link("2,0", "3,0", link_type="brews")
        outgoing = soma.links(a.id, direction="out")
        near = soma.neighbors("1,0", k_hop=2)
        route = soma.path(a.id, "3,0")
        removed = soma.unlink("1,0", "2,0", link_type="heats")
        after = soma.path("1,0", "3,0")
        with pytest.raises(errors.LinkNotFound):
            soma.unlink("1,0", "2,0", link_type="heats")

    assert isinstance(saved, models.LinkSaved) and saved.link.strength == 0.7
    assert again.link.id == saved.link.id and again.link.strength == 0.8
    assert [(link.to_coord, link.link_type) for link in outgoing.links] == [("2.0,0.0", "heats")]
    assert [(n.coord, n.depth, n.link_type) for n in near.neighbors] == [
        ("2.0,0.0", 1, "heats"),
        ("3.0,0.0", 2, "brews"),
    ]
    assert near.neighbors[0].memory is not None and near.neighbors[0].memory.payload == {"content": "water"}
    assert (route.found, route.length, route.link_types) == (True, 2, ["heats", "brews"])
    assert removed.deleted is True and removed.link_type == "heats"
    assert after.found is False


def test_operations_endpoints(soma_live: LiveServer, soma: SomaClient) -> None:
    live = soma.healthz()
    ready = soma.readyz()
    health = soma.health()
    stats = soma.stats()
    text = soma.metrics()

    assert live == models.Liveness(status="ok")
    assert ready.ready is True
    assert health.healthy is True and {s.name for s in health.services} >= {"postgresql", "embedder"}
    assert isinstance(stats, models.Stats) and stats.total_memories >= 0
    assert "soma_http_request_seconds" in text


def test_errors_are_typed_by_code_and_change_nothing(soma_live: LiveServer) -> None:
    with _tenant_client(soma_live, "errs") as soma:
        with pytest.raises(errors.MemoryNotFound) as missing:
            soma.get_memory(uuid.uuid4())
        with pytest.raises(errors.InvalidCoordinate):
            soma.create_memory({"content": "x"}, coord="1,nope")
        with pytest.raises(errors.ValidationFailed) as invalid:
            soma.create_memory({"content": "x"}, importance=3)
        with pytest.raises(errors.InvalidFilter):
            soma.list_memories(filters={"score": {"near": 1}})
        with pytest.raises(errors.BatchItemInvalid) as batch:
            soma.create_batch([{"payload": {"content": "ok"}}, {"payload": "not an object"}])
        with pytest.raises(errors.SelfLink):
            soma.link("5,5", "5.0,5.0")
    with SomaClient(soma_live.url, token="wrong") as stranger, pytest.raises(errors.Unauthorized) as unauthorized:
        stranger.list_memories()
    key = api_key(soma_live, "keyed")
    with SomaClient(soma_live.url, token=key, tenant="errs") as keyed, pytest.raises(errors.TenantForbidden):
        keyed.list_memories()

    assert (missing.value.status, missing.value.code) == (404, "memory_not_found")
    assert isinstance(missing.value, errors.NotFound)
    assert invalid.value.detail[0]["loc"] == ["body", "body", "importance"] or "importance" in str(invalid.value.detail)
    assert batch.value.detail[0]["index"] == 1
    assert unauthorized.value.headers["www-authenticate"].startswith("Bearer")
    assert _count(soma_live, "errs") == 0


def test_idempotency_keys_are_sent_on_writes_when_asked(soma_live: LiveServer) -> None:
    key = f"key-{uuid.uuid4().hex}"
    with _tenant_client(soma_live, "idem") as soma:
        first = soma.create_memory({"content": "once"}, idempotency_key=key)
        generated = soma.create_memory({"content": "fresh key"}, idempotency_key=True)

    assert first.created is True and generated.created is True
    assert _count(soma_live, "idem") == 2


def test_the_async_client_speaks_the_same_endpoints(soma_live: LiveServer) -> None:
    async def scenario() -> dict[str, Any]:
        async with AsyncSomaClient(soma_live.url, token=MASTER_TOKEN, tenant="async") as soma:
            created = await soma.create_memory({"content": "Bob keeps bees on the roof"}, coord="7,7")
            found = await soma.search("who keeps bees")
            got = await soma.get_memory("7,7")
            await soma.create_memory({"content": "the roof"}, coord="8,8")
            linked = await soma.link("7,7", "8,8")
            near = await soma.neighbors("7,7")
            listed = [
                memory
                async for memory in soma.iter_memories(limit=1, filters={"content": "Bob keeps bees on the roof"})
            ]
            health = await soma.health()
            deleted = await soma.delete_memory("7,7")
            try:
                await soma.get_memory("7,7")
            except errors.MemoryNotFound as exc:
                gone = exc
            return locals()

    seen = asyncio.run(scenario())

    assert seen["found"].memories[0].id == seen["created"].memory.id == seen["got"].id
    assert seen["linked"].created is True and [n.coord for n in seen["near"].neighbors] == ["8.0,8.0"]
    assert [memory.id for memory in seen["listed"]] == [seen["created"].memory.id]
    assert seen["health"].healthy is True and seen["deleted"].deleted is True
    assert seen["gone"].status == 404


def test_a_429_from_the_real_throttle_is_retried_after_retry_after(start_server: Any) -> None:
    server = start_server(SOMA_THROTTLE_KEY_RATE="3/s")
    calls = 8
    with SomaClient(server.url, token=MASTER_TOKEN, retry=Retry(attempts=6)) as soma:
        started = time.monotonic()
        answers = [soma.get_memory(soma.create_memory({"content": f"n{i}"}).memory.id) for i in range(calls // 2)]
        elapsed = time.monotonic() - started
        metrics = soma.metrics()
    with (
        SomaClient(server.url, token=MASTER_TOKEN, retry=Retry(attempts=1)) as impatient,
        pytest.raises(errors.Throttled) as throttled,
    ):
        for _ in range(10):
            impatient.list_memories()

    async def read_back_through_asyncio() -> list[models.Memory]:
        # 7 requests at 3/s cannot all fall in the windows they span: some are refused and waited out.
        async with AsyncSomaClient(server.url, token=MASTER_TOKEN, retry=Retry(attempts=6)) as soma:
            return [await soma.get_memory(answers[i % len(answers)].id) for i in range(7)]

    read_back = asyncio.run(read_back_through_asyncio())

    refused = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("soma_http_responses_total{") and 'status="429"' in line
    )
    assert len(answers) == calls // 2  # every call answered, none raised
    assert [memory.id for memory in read_back] == [answers[i % len(answers)].id for i in range(7)]
    assert refused >= 1  # the server really refused some, and the client waited them out
    assert elapsed >= 1.0  # at 3/s, 8 requests cannot be served in less than a window
    assert throttled.value.retry_after == 1.0  # seconds until the 1 s window resets, rounded up
    assert throttled.value.code == "throttled"


def test_a_503_is_retried_with_backoff_until_postgresql_is_back(start_server: Any, private_postgres: Any) -> None:
    server = start_server(database_url=private_postgres.url)
    with SomaClient(server.url, token=MASTER_TOKEN) as soma:
        memory = soma.create_memory({"content": "survives an outage"}).memory
    private_postgres.stop()
    restarted = threading.Timer(2.0, private_postgres.start)
    restarted.start()
    try:
        with SomaClient(server.url, token=MASTER_TOKEN, retry=Retry(attempts=12, backoff=0.3, max_backoff=1.0)) as soma:
            started = time.monotonic()
            got = soma.get_memory(memory.id)
            waited = time.monotonic() - started
    finally:
        restarted.join()

    assert got.id == memory.id
    assert waited >= 1.0  # it was refused (503) until PostgreSQL came back, then answered
    with SomaClient(server.url, token=MASTER_TOKEN, retry=Retry(attempts=1)) as soma:
        private_postgres.stop()
        with pytest.raises(errors.ServiceUnavailable):
            soma.get_memory(memory.id)
        private_postgres.start()


def test_the_bridge_says_when_the_live_server_refuses_its_token(soma_live: LiveServer, bridge: Any) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    refused, refused_code, refused_err = bridge.run(
        bridge.env(SOMA_URL=soma_live.url, SOMA_API_TOKEN="wrong"), send=initialize
    )
    welcomed, _, _ = bridge.run(bridge.env(SOMA_URL=soma_live.url, SOMA_API_TOKEN=MASTER_TOKEN), send=initialize)

    assert refused["id"] == 7 and refused["error"]["message"].startswith("401 unauthorized")
    assert "check the token" in refused["error"]["message"] and refused["error"]["data"] == {"status": 401}
    assert refused_code == 0 and "Traceback" not in refused_err
    assert welcomed["id"] == 7 and welcomed["result"]["serverInfo"]["name"] == "somafractalmemory"
