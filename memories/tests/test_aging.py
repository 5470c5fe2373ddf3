"""Expiry, pinning, forgetting and access tracking through the API and the services."""

from __future__ import annotations

import importlib
import threading
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from core.db import connection_params
from memories.access import access_buffer, memory_access_flush
from memories.aging import memories_expired_purge, memories_forget
from memories.models import Memory
from memories.selectors import ForgetPolicy
from tests_support.concurrency import at_once
from tests_support.database import locked_in_turn
from tests_support.factories import MemoryFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _empty_access_buffer():
    access_buffer.discard()
    yield
    access_buffer.discard()


def create(api, **body):
    body.setdefault("payload", {"content": "something"})
    response = api.post("/memories", body)
    assert response.status_code == 200, response.content
    return response.json()["memory"]


def expire(memory_id, *, ago=timedelta(seconds=1)):
    """Make a memory expired without waiting: raw SQL, as a clock would."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE memories_memory SET expires_at = %s WHERE id = %s", [timezone.now() - ago, memory_id])


def set_times(memory_id, *, created_at, last_accessed_at=None, importance=None):
    fields = {"created_at": created_at, "last_accessed_at": last_accessed_at}
    if importance is not None:
        fields["importance"] = importance
    Memory.objects.filter(pk=memory_id).update(**fields)


def snapshot():
    return sorted(Memory.objects.values_list("id", "coord_key", "payload", "pinned", "expires_at", "access_count"))


# --- expiry on create and patch ---------------------------------------------------------------


def test_ttl_seconds_and_expires_at_set_the_expiry(api):
    before = timezone.now()
    by_ttl = create(api, ttl_seconds=3600)
    at = "2030-01-02T03:04:05Z"
    by_date = create(api, expires_at=at, pinned=True)

    ttl_expiry = datetime.fromisoformat(by_ttl["expires_at"])
    assert before + timedelta(seconds=3600) <= ttl_expiry <= timezone.now() + timedelta(seconds=3600)
    assert (by_date["expires_at"], by_date["pinned"]) == ("2030-01-02T03:04:05Z", True)
    assert (by_ttl["pinned"], by_ttl["access_count"], by_ttl["last_accessed_at"]) == (False, 0, None)
    # Another offset: the answer gives the instant in UTC, as every read does
    offset = create(api, expires_at="2030-01-02T05:04:05+02:00")
    assert offset["expires_at"] == api.get(f"/memories/{offset['id']}").json()["memory"]["expires_at"]
    assert offset["expires_at"] == "2030-01-02T03:04:05Z"
    patched = api.patch(f"/memories/{offset['id']}", {"expires_at": "2030-01-02T01:04:05-02:00"}).json()["memory"]
    assert patched["expires_at"] == "2030-01-02T03:04:05Z"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"ttl_seconds": 10, "expires_at": "2030-01-01T00:00:00Z"}, 400, "invalid_expiry"),
        ({"ttl_seconds": 0}, 422, "validation_error"),
        ({"ttl_seconds": "soon"}, 422, "validation_error"),
        ({"expires_at": "not a date"}, 422, "validation_error"),
        ({"expires_at": 2035}, 422, "validation_error"),
        ({"expires_at": "2035"}, 422, "validation_error"),
        ({"pinned": "maybe"}, 422, "validation_error"),
        # Real offsets, but the instant leaves years 1..9999 in UTC: stored, no read could load it
        ({"expires_at": "9999-12-31T23:59:59-05:00"}, 422, "validation_error"),
        ({"expires_at": "0001-01-01T00:00:00+05:00"}, 422, "validation_error"),
    ],
)
def test_a_bad_expiry_is_refused_and_stores_nothing(api, body, status, code):
    before = snapshot()

    response = api.post("/memories", {"payload": {"content": "x"}, **body})

    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert snapshot() == before


def test_a_batch_item_with_both_expiries_names_its_index_and_stores_nothing(api):
    items = [
        {"payload": {"content": "fine"}},
        {"payload": {"content": "bad"}, "ttl_seconds": 5, "expires_at": "2030-01-01T00:00:00Z"},
    ]

    response = api.post("/memories/batch", {"memories": items})

    assert response.status_code == 422
    assert response.json()["detail"][0]["index"] == 1
    assert response.json()["detail"][0]["code"] == "invalid_expiry"
    assert Memory.objects.count() == 0


def test_batch_items_carry_pinned_and_expiry(api):
    items = [{"payload": {"content": "a"}, "pinned": True}, {"payload": {"content": "b"}, "ttl_seconds": 60}]

    response = api.post("/memories/batch", {"memories": items})

    assert response.status_code == 200
    a, b = (Memory.objects.get(pk=item["id"]) for item in response.json()["memories"])
    assert (a.pinned, a.expires_at is None) == (True, True)
    assert (b.pinned, b.expires_at is not None) == (False, True)


def test_patching_expiry_or_pin_embeds_nothing_again(api, django_capture_on_commit_callbacks):
    memory = create(api, payload={"content": "keep me"})
    Memory.objects.filter(pk=memory["id"]).update(vector_status="indexed", vector_model="m")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        patched = api.patch(f"/memories/{memory['id']}", {"pinned": True, "ttl_seconds": 120})
    assert patched.status_code == 200
    assert patched.json()["memory"]["pinned"] is True
    assert patched.json()["memory"]["vector_status"] == "indexed"
    assert callbacks == []  # no indexing scheduled

    cleared = api.patch(f"/memories/{memory['id']}", {"expires_at": None})
    assert cleared.json()["memory"]["expires_at"] is None
    assert Memory.objects.get(pk=memory["id"]).vector_status == "indexed"


@pytest.mark.parametrize(
    "body",
    [
        {"expires_at": "9999-12-31T23:59:59-05:00"},
        {"expires_at": "0001-01-01T00:00:00+05:00"},
        {"ttl_seconds": True},  # JSON numbers only, as on POST: true is not 1 second
        {"ttl_seconds": 1.0},
        {"pinned": 1},
        {"pinned": 0},
    ],
)
def test_patch_refuses_what_post_refuses_and_changes_nothing(api, body):
    memory = create(api)
    before = snapshot()

    response = api.patch(f"/memories/{memory['id']}", body)

    assert (response.status_code, response.json()["code"]) == (422, "validation_error"), response.content
    assert snapshot() == before
    assert api.get(f"/memories/{memory['id']}").status_code == 200


def test_a_batch_item_expiring_outside_the_readable_years_is_refused_and_stores_nothing(api):
    items = [
        {"payload": {"content": "fine"}},
        {"payload": {"content": "bad"}, "expires_at": "9999-12-31T23:59:59-05:00"},
    ]

    response = api.post("/memories/batch", {"memories": items})

    assert response.status_code == 422
    assert response.json()["detail"][0]["index"] == 1
    assert Memory.objects.count() == 0


def test_the_migration_brings_unreadable_expiries_back_within_the_years_and_they_read_again(api):
    """What the service accepted before ("9999-12-31T23:59:59-05:00": the year 10000 in UTC) made the memory,
    its namespace's list and its history unreadable; memories 0007 moves it to the last instant."""
    migration = importlib.import_module("memories.migrations.0007_expiry_within_readable_years")
    late, early = create(api, payload={"content": "late"}), create(api, payload={"content": "early"})
    with connection.cursor() as cursor:
        cursor.execute("UPDATE memories_memory SET expires_at = '10000-01-01T04:59:59+00' WHERE id = %s", [late["id"]])
        cursor.execute(
            "UPDATE memories_memory SET expires_at = '0001-12-31T19:00:00+00 BC' WHERE id = %s", [early["id"]]
        )
        cursor.execute(
            "UPDATE memories_memoryversion SET snapshot = jsonb_set(snapshot, '{expires_at}', %s::jsonb) WHERE memory_id = %s",
            ['"10000-01-01T04:59:59+00:00"', late["id"]],
        )
    assert api.get("/memories").status_code == 400  # as the service answered such a namespace before

    with connection.cursor() as cursor:
        for statement in migration.FORWARD:
            cursor.execute(statement)

    assert api.get(f"/memories/{late['id']}").json()["memory"]["expires_at"] == "9999-12-31T23:59:59.999Z"
    assert api.get(f"/memories/{early['id']}").status_code == 404  # long expired, as it meant
    assert [m["id"] for m in api.get("/memories").json()["items"]] == [late["id"]]
    history = api.get(f"/memories/{late['id']}/history")
    assert history.status_code == 200
    assert history.json()["items"][-1]["memory"]["expires_at"] == "9999-12-31T23:59:59.999Z"


def test_patch_refuses_both_expiries_and_changes_nothing(api):
    memory = create(api)
    before = snapshot()

    response = api.patch(f"/memories/{memory['id']}", {"ttl_seconds": 5, "expires_at": "2030-01-01T00:00:00Z"})

    assert (response.status_code, response.json()["code"]) == (400, "invalid_expiry")
    assert snapshot() == before


# --- read-time expiry -------------------------------------------------------------------------


def test_an_expired_memory_reads_as_deleted_unless_include_expired(api):
    live = create(api, payload={"content": "live"})
    gone = create(api, payload={"content": "gone"}, coord="7,7")
    expire(gone["id"])

    assert api.get(f"/memories/{gone['id']}").status_code == 404
    assert api.get("/memories/7,7").status_code == 404
    assert api.patch(f"/memories/{gone['id']}", {"importance": 0.5}).status_code == 404
    assert [item["id"] for item in api.get("/memories").json()["items"]] == [live["id"]]
    assert api.get("/stats").json()["total_memories"] == 1

    shown = api.get(f"/memories/{gone['id']}", {"include_expired": "true"})
    assert shown.status_code == 200
    assert shown.json()["memory"]["id"] == gone["id"]
    listed = api.get("/memories", {"include_expired": "true"}).json()["items"]
    assert sorted(item["id"] for item in listed) == sorted([live["id"], gone["id"]])


def test_storing_at_an_expired_coordinate_stores_a_new_memory(api):
    old = create(api, coord="3,3", payload={"content": "old"})
    expire(old["id"])

    response = api.post("/memories", {"coord": "3,3", "payload": {"content": "new"}})

    assert response.status_code == 200
    assert response.json()["created"] is True
    assert response.json()["memory"]["id"] != old["id"]
    assert not Memory.objects.filter(pk=old["id"]).exists()
    assert api.get("/memories/3,3").json()["memory"]["payload"] == {"content": "new"}


def test_a_batch_over_an_expired_coordinate_stores_it_anew(api):
    old = create(api, coord="4,4", payload={"content": "old"})
    live = create(api, coord="5,5", payload={"content": "live"})
    expire(old["id"])

    response = api.post(
        "/memories/batch",
        {"memories": [{"coord": "4,4", "payload": {"content": "a"}}, {"coord": "5,5", "payload": {"content": "b"}}]},
    )

    assert response.status_code == 200
    assert (response.json()["created"], response.json()["updated"]) == (1, 1)
    ids = [item["id"] for item in response.json()["memories"]]
    assert ids[0] != old["id"] and ids[1] == live["id"]


# --- purge ------------------------------------------------------------------------------------


def test_prune_expired_dry_run_counts_and_the_real_run_purges(api):
    keep = create(api, ttl_seconds=3600)
    gone = [create(api, payload={"content": f"gone {i}"}) for i in range(3)]
    for memory in gone:
        expire(memory["id"])

    out = StringIO()
    call_command("prune_expired", "--dry-run", stdout=out)
    assert "would purge 3 expired memories" in out.getvalue()
    assert Memory.objects.count() == 4

    out = StringIO()
    call_command("prune_expired", "--batch-size", "2", stdout=out, stderr=StringIO())
    assert "Purged 3 expired memories" in out.getvalue()
    assert list(Memory.objects.values_list("id", flat=True)) == [uuid.UUID(keep["id"])]


def test_purge_spares_a_memory_given_a_later_expiry_meanwhile(api):
    memory = create(api)
    expire(memory["id"])
    now = timezone.now()
    Memory.objects.filter(pk=memory["id"]).update(expires_at=now + timedelta(days=1))

    result = memories_expired_purge(now=now)

    assert result.count == 0
    assert Memory.objects.filter(pk=memory["id"]).exists()


@pytest.mark.django_db(transaction=True)
def test_a_purge_locks_in_the_memories_lock_order_so_a_batch_replacing_the_same_never_deadlocks():
    """A batch replaces memories in coordinate order (MemoryQuerySet.in_lock_order), here against
    their ids' order. The purge must delete in that order too: it waits for the batch at the
    first memory instead of holding the second, and the batch goes on."""
    first = MemoryFactory(id=uuid.UUID(int=2**128 - 1), coordinate=[1.0])
    second = MemoryFactory(id=uuid.UUID(int=1), coordinate=[2.0])
    for memory in (first, second):
        expire(memory.pk)

    outcome = locked_in_turn([first.pk, second.pk], meanwhile=memories_expired_purge)

    assert "error" not in outcome, outcome
    assert outcome["result"].count == 2
    assert not Memory.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_forget_runs_at_once_each_answer_what_they_deleted():
    """The loser of a race used to answer count 0 with the winner's ids listed."""
    memories = MemoryFactory.create_batch(20, namespace="race")

    answers = at_once(
        lambda: memories_forget(tenant="default", namespace="race", policy=ForgetPolicy(keep_top_n=0), dry_run=False),
        times=2,
    )

    assert len(answers) == 2
    assert sum(answer.count for answer in answers) == 20
    assert all(answer.count == len(answer.ids) for answer in answers)
    assert set(answers[0].ids).isdisjoint(answers[1].ids)
    assert set(answers[0].ids) | set(answers[1].ids) == {memory.pk for memory in memories}


# --- forget -----------------------------------------------------------------------------------


def forget(api, **body):
    body.setdefault("reference_time", T0.isoformat())
    return api.post("/memories/forget", body)


def test_forget_dry_run_changes_nothing_and_the_real_run_forgets_exactly_its_ids(api):
    old = [create(api, payload={"content": f"old {i}"}) for i in range(3)]
    recent = create(api, payload={"content": "recent"})
    pinned_old = create(api, payload={"content": "pinned"}, pinned=True)
    for memory in [*old, pinned_old]:
        set_times(memory["id"], created_at=T0 - timedelta(days=100))
    set_times(recent["id"], created_at=T0 - timedelta(days=1))
    before = snapshot()

    dry = forget(api, max_age_days=30)

    assert dry.status_code == 200
    assert dry.json()["dry_run"] is True
    assert dry.json()["count"] == 3
    assert sorted(dry.json()["ids"]) == sorted(m["id"] for m in old)
    assert snapshot() == before

    real = forget(api, max_age_days=30, dry_run=False)

    assert real.json() == {"dry_run": False, "count": 3, "ids": dry.json()["ids"]}
    assert sorted(str(pk) for pk in Memory.objects.values_list("id", flat=True)) == sorted(
        [recent["id"], pinned_old["id"]]
    )


def test_forget_rules_reaching_before_the_year_1_match_nothing(api):
    create(api)

    response = forget(api, max_age_days=999_999, reference_time="0716-05-09T08:10:14Z", dry_run=False)

    assert response.json() == {"dry_run": False, "count": 0, "ids": []}
    assert Memory.objects.count() == 1


def test_forget_by_inactivity_counts_the_last_access(api):
    idle = create(api, payload={"content": "idle"})
    read = create(api, payload={"content": "read lately"})
    for memory in (idle, read):
        set_times(memory["id"], created_at=T0 - timedelta(days=60))
    Memory.objects.filter(pk=read["id"]).update(last_accessed_at=T0 - timedelta(days=2))

    response = forget(api, max_inactive_days=30)

    assert response.json()["ids"] == [idle["id"]]


def test_keep_top_n_keeps_the_most_important_then_the_most_recent(api):
    made = {name: create(api, payload={"content": name}) for name in ("a", "b", "c", "d", "p")}
    set_times(made["a"]["id"], created_at=T0 - timedelta(days=9), importance=0.9)
    set_times(made["b"]["id"], created_at=T0 - timedelta(days=1), importance=0.5)
    set_times(made["c"]["id"], created_at=T0 - timedelta(days=5), importance=0.5)
    set_times(made["d"]["id"], created_at=T0 - timedelta(days=8), importance=0.1, last_accessed_at=T0)
    set_times(made["p"]["id"], created_at=T0 - timedelta(days=20), importance=0.0)
    Memory.objects.filter(pk=made["p"]["id"]).update(pinned=True)

    response = forget(api, keep_top_n=2)

    # a (0.9), then b over c (same importance, b is more recent); d goes; pinned p never does
    assert sorted(response.json()["ids"]) == sorted([made["c"]["id"], made["d"]["id"]])


def test_forget_stays_in_its_scope(api):
    mine = create(api, payload={"content": "x", "user_id": "u1"}, memory_type="semantic")
    other_user = create(api, payload={"content": "y", "user_id": "u2"}, memory_type="semantic")
    other_type = create(api, payload={"content": "z", "user_id": "u1"})
    other_ns = create(api, payload={"content": "w", "user_id": "u1"}, namespace="elsewhere", memory_type="semantic")
    other_tenant = Client().post(
        "/memories",
        {"payload": {"content": "v", "user_id": "u1"}, "memory_type": "semantic"},
        content_type="application/json",
        headers={"Authorization": "Bearer test-master-token", "X-Soma-Tenant": "acme"},
    )
    assert other_tenant.status_code == 200
    del other_user, other_type, other_ns

    response = forget(api, keep_top_n=0, memory_type="semantic", filters={"user_id": "u1"})

    assert response.json()["ids"] == [mine["id"]]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "invalid_forget_policy"),
        ({"max_age_days": -1}, 422, "validation_error"),
        ({"keep_top_n": "ten"}, 422, "validation_error"),
        ({"keep_top_n": 2.0}, 422, "validation_error"),
        ({"keep_top_n": 1, "max_age_days": "3"}, 422, "validation_error"),
        ({"keep_top_n": 1, "filters": {"x": {"near": 1}}}, 400, "invalid_filter"),
        ({"keep_top_n": 1, "surprise": True}, 422, "validation_error"),
    ],
)
def test_a_bad_forget_policy_is_refused_and_forgets_nothing(api, body, status, code):
    create(api)
    before = snapshot()

    response = api.post("/memories/forget", {**body, "dry_run": False})

    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert snapshot() == before


# --- access tracking --------------------------------------------------------------------------


def test_a_read_counts_once_flushed_without_touching_updated_at(api, django_assert_num_queries):
    memory = create(api, coord="9,9")
    before = Memory.objects.get(pk=memory["id"])

    with django_assert_num_queries(1):  # the read itself: no write on the hot path
        api.get("/memories/9,9")
    api.get(f"/memories/{memory['id']}")
    assert Memory.objects.get(pk=memory["id"]).access_count == 0  # not yet flushed

    assert memory_access_flush() == 1

    after = Memory.objects.get(pk=memory["id"])
    assert after.access_count == 2
    assert after.last_accessed_at is not None and after.last_accessed_at >= before.created_at
    assert (after.updated_at, after.vector_status) == (before.updated_at, before.vector_status)
    assert memory_access_flush() == 0


def test_a_full_buffer_flushes_itself(api, settings):
    settings.SOMA_ACCESS_FLUSH_THRESHOLD = 3
    memories = [create(api, payload={"content": str(i)}) for i in range(3)]
    for memory in memories[:2]:
        api.get(f"/memories/{memory['id']}")
    assert access_buffer.pending() == 2

    api.get(f"/memories/{memories[2]['id']}")

    assert access_buffer.pending() == 0
    assert list(Memory.objects.values_list("access_count", flat=True)) == [1, 1, 1]


@pytest.mark.django_db(transaction=True)
def test_a_flush_skips_a_row_another_transaction_holds_and_writes_it_next_time(api):
    """The flush never waits for a held row (so it is never part of a deadlock): it writes the
    others at once and keeps the held one's counts, exact, for the next flush."""
    held, free = create(api, coord="1,1"), create(api, coord="2,2")
    for _ in range(2):
        api.get(f"/memories/{held['id']}")
    api.get(f"/memories/{free['id']}")
    other = psycopg.connect(**connection_params(), autocommit=False)
    try:
        # A write in progress elsewhere holds the row, as a batch replacing it would.
        other.execute("SELECT id FROM memories_memory WHERE id = %s FOR UPDATE", [held["id"]])
        with connection.cursor() as cursor:  # a flush that waited would fail here, not hang the test
            cursor.execute("SET lock_timeout = '3s'")
        assert memory_access_flush() == 1  # did not wait: the free row only
        assert access_buffer.pending() == 1
        other.commit()
    finally:
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert memory_access_flush() == 1
    counts = dict(Memory.objects.values_list("coord_key", "access_count"))
    assert counts == {"1.0,1.0": 2, "2.0,2.0": 1}
    assert memory_access_flush() == 0


@pytest.mark.django_db(transaction=True)
def test_access_counts_are_exact_under_concurrent_reads(settings):
    # Small threshold: the reading threads flush concurrently with each other many times.
    settings.SOMA_ACCESS_FLUSH_THRESHOLD = 2
    headers = {"Authorization": "Bearer test-master-token"}
    ids = []
    for i in range(3):
        response = Client().post(
            "/memories", {"payload": {"content": f"m{i}"}}, content_type="application/json", headers=headers
        )
        ids.append(response.json()["memory"]["id"])
    threads, reads_per_thread, failures = 4, 25, []

    def read() -> None:
        client = Client()
        try:
            for n in range(reads_per_thread):
                if client.get(f"/memories/{ids[n % 3]}", headers=headers).status_code != 200:
                    failures.append(n)
        finally:
            connection.close()

    workers = [threading.Thread(target=read) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    memory_access_flush()

    assert failures == []
    counts = dict(Memory.objects.values_list("id", "access_count"))
    # 25 reads per thread cycle over 3 memories: 9, 8, 8 each, times 4 threads
    assert [counts[uuid.UUID(i)] for i in ids] == [36, 32, 32]


# --- history of purged and forgotten memories ---------------------------------------------------


def test_a_purged_and_a_forgotten_memory_keep_their_history(api):
    expiring = create(api, payload={"content": "expires"})
    old = create(api, payload={"content": "old"})
    expire(expiring["id"])
    set_times(old["id"], created_at=T0 - timedelta(days=100))

    memories_expired_purge()
    forgotten = forget(api, max_age_days=30, dry_run=False)

    assert forgotten.json()["ids"] == [old["id"]]
    purged_history = api.get(f"/memories/{expiring['id']}/history").json()["items"]
    forgotten_history = api.get(f"/memories/{old['id']}/history").json()["items"]
    assert [(item["event"], item["actor"]) for item in purged_history] == [("expired", "system"), ("created", "master")]
    assert [(item["event"], item["actor"]) for item in forgotten_history] == [
        ("forgotten", "master"),
        ("created", "master"),
    ]
    assert forgotten_history[0]["memory"]["payload"] == {"content": "old"}
