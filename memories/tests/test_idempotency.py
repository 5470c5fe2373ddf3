"""Idempotency-Key on POST /memories and POST /memories/batch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from conftest import ApiClient
from memories.models import IdempotencyKey, Memory, MemoryVersion
from tests_support.concurrency import at_once

pytestmark = pytest.mark.django_db


def state() -> tuple[list[Any], list[Any], list[Any]]:
    return (
        sorted(Memory.objects.values_list("id", "tenant", "payload", "version")),
        sorted(MemoryVersion.objects.values_list("memory_id", "version")),
        sorted(IdempotencyKey.objects.values_list("tenant", "key", "request_hash", "status_code")),
    )


def post(client: Any, path: str, body: Any, key: str) -> Any:
    return client.post(path, body, headers={"Idempotency-Key": key})


def test_a_retry_gets_the_first_answer_and_stores_nothing(api):
    first = post(api, "/memories", {"payload": {"content": "once"}, "metadata": {"a": 1, "b": 2}}, "k-1")
    before = state()
    # the same request, its JSON written another way
    again = api.post(
        "/memories",
        raw='{"metadata": {"b": 2, "a": 1},   "payload": {"content": "once"}}',
        headers={"Idempotency-Key": "k-1"},
    )

    assert (first.status_code, first.json()["created"]) == (200, True)
    assert (again.status_code, again.json()) == (200, first.json())
    assert state() == before
    assert Memory.objects.count() == 1 and MemoryVersion.objects.count() == 1


def test_another_body_under_the_same_key_is_a_conflict(api):
    post(api, "/memories", {"payload": {"content": "first"}}, "k-2")
    before = state()

    response = post(api, "/memories", {"payload": {"content": "second"}}, "k-2")
    batch = post(api, "/memories/batch", {"memories": [{"payload": {"content": "first"}}]}, "k-2")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "This Idempotency-Key was used for another request in the last 24 hours.",
        "code": "idempotency_conflict",
    }
    assert (batch.status_code, batch.json()["code"]) == (409, "idempotency_conflict")
    assert state() == before


def test_keys_are_per_tenant(api_for):
    alice, bob = api_for("alice"), api_for("bob")

    mine = post(alice, "/memories", {"payload": {"content": "a"}}, "shared")
    theirs = post(bob, "/memories", {"payload": {"content": "b"}}, "shared")

    assert (mine.status_code, theirs.status_code) == (200, 200)
    assert sorted(Memory.objects.values_list("tenant", flat=True)) == ["alice", "bob"]


def test_batch_is_replayed(api):
    body = {"memories": [{"coord": "1,1", "payload": {"content": "x"}}, {"payload": {"content": "y"}}]}
    first = post(api, "/memories/batch", body, "b-1")
    before = state()

    again = post(api, "/memories/batch", body, "b-1")

    assert first.status_code == 200 and first.json()["created"] == 2
    assert (again.status_code, again.json()) == (200, first.json())
    assert state() == before


def test_a_refused_request_keeps_no_key(api):
    refused = post(api, "/memories/batch", {"memories": [{"payload": {"content": "ok"}}, {"payload": 3}]}, "r-1")
    assert (refused.status_code, refused.json()["code"]) == (422, "batch_item_invalid")
    assert state() == ([], [], [])

    fixed = post(api, "/memories/batch", {"memories": [{"payload": {"content": "ok"}}]}, "r-1")
    assert (fixed.status_code, fixed.json()["created"]) == (200, 1)


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_a_malformed_key_is_refused(api, key):
    response = api.post("/memories", {"payload": {"content": "x"}}, headers={"Idempotency-Key": key})

    assert (response.status_code, response.json()["code"]) == (400, "invalid_idempotency_key")
    assert state() == ([], [], [])


def test_a_key_is_free_again_after_24_hours(api):
    post(api, "/memories", {"payload": {"content": "yesterday"}}, "day")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))

    response = post(api, "/memories", {"payload": {"content": "today"}}, "day")

    assert response.status_code == 200
    assert Memory.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_retries_create_one_memory():
    def send() -> tuple[int, Any]:
        response = post(ApiClient(), "/memories", {"payload": {"content": "exactly once"}}, "race-1")
        return response.status_code, response.json()

    answers = at_once(send, times=20)

    assert len(answers) == 20
    assert Memory.objects.count() == 1
    assert MemoryVersion.objects.count() == 1
    assert {status for status, _ in answers} == {200}
    assert all(body == answers[0][1] for _, body in answers)
    assert answers[0][1]["memory"]["id"] == str(Memory.objects.get().pk)
