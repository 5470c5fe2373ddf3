import json
import uuid

import pytest

from memories.models import Memory

pytestmark = pytest.mark.django_db


def snapshot():
    return sorted(
        Memory.objects.values_list(
            "id", "tenant", "namespace", "coord_key", "payload", "text", "metadata", "importance"
        )
    )


def create(api, **body):
    body.setdefault("payload", {"content": "something"})
    response = api.post("/memories", body)
    assert response.status_code == 200, response.content
    return response.json()


# --- the earlier service's clients -------------------------------------------------------


def test_old_client_round_trip(api):
    payload = {"task": "write report", "importance": 3, "nested": {"a": [1, 2]}}

    created = api.post("/memories", {"coord": "1.2,3.4,5.6", "payload": payload, "memory_type": "episodic"})
    assert created.status_code == 200  # the earlier service's clients assert 200, new or replaced
    body = created.json()
    assert body["coord"] == "1.2,3.4,5.6"
    assert body["memory_type"] == "episodic"
    assert body["created"] is True
    assert body["duplicate_of"] is None

    fetched = api.get("/memories/1.2,3.4,5.6")
    assert fetched.status_code == 200
    assert fetched.json()["memory"]["payload"] == payload

    deleted = api.delete("/memories/1.2,3.4,5.6")
    assert deleted.status_code == 200
    assert deleted.json() == {"deleted": True, "id": body["memory"]["id"], "coord": "1.2,3.4,5.6"}
    gone = api.get("/memories/1.2,3.4,5.6")
    assert gone.status_code == 404
    assert gone.json()["code"] == "memory_not_found"


def test_storing_a_coordinate_again_replaces_it(api):
    first = create(api, coord="1,2", payload={"content": "old"}, metadata={"m": 1})

    again = api.post("/memories", {"coord": "1.0,2.0", "payload": {"content": "new"}, "memory_type": "semantic"})

    assert again.status_code == 200
    body = again.json()
    assert body["created"] is False
    assert body["memory"]["id"] == first["memory"]["id"]
    assert body["memory"]["created_at"] == first["memory"]["created_at"]
    assert body["memory"]["payload"] == {"content": "new"}
    assert body["memory"]["text"] == "new"
    assert body["memory"]["metadata"] == {}
    assert body["memory"]["memory_type"] == "semantic"
    assert Memory.objects.count() == 1


def test_same_coordinate_in_other_namespace_is_another_memory(api):
    create(api, coord="1,2")
    other = create(api, coord="1,2", namespace="work")

    assert other["created"] is True
    assert Memory.objects.count() == 2
    assert api.get("/memories/1,2", {"namespace": "work"}).json()["memory"]["id"] == other["memory"]["id"]


# --- CRUD -------------------------------------------------------------------------------


def test_create_returns_the_memory_object(api):
    response = api.post(
        "/memories",
        {
            "payload": {"note": "n"},
            "text": "explicit text",
            "metadata": {"source": "chat"},
            "importance": 0.25,
            "memory_type": "semantic",
            "namespace": "notes",
        },
    )

    assert response.status_code == 200
    assert response.json()["created"] is True
    memory = response.json()["memory"]
    assert uuid.UUID(memory["id"])
    assert memory["coord"] is None
    assert memory["coordinate"] is None
    assert memory["namespace"] == "notes"
    assert memory["memory_type"] == "semantic"
    assert memory["payload"] == {"note": "n"}
    assert memory["text"] == "explicit text"
    assert memory["metadata"] == {"source": "chat"}
    assert memory["importance"] == 0.25
    assert memory["vector_status"] in {"pending", "indexed", "failed"}
    assert set(memory) == {
        "id",
        "coord",
        "coordinate",
        "namespace",
        "memory_type",
        "payload",
        "text",
        "metadata",
        "importance",
        "created_at",
        "updated_at",
        "vector_status",
        "version",
        "pinned",
        "expires_at",
        "last_accessed_at",
        "access_count",
    }
    assert (memory["pinned"], memory["expires_at"], memory["last_accessed_at"], memory["access_count"]) == (
        False,
        None,
        None,
        0,
    )


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        ({"content": "from content", "text": "x"}, "from content"),
        ({"text": "from text"}, "from text"),
        ({"memory": "from memory"}, "from memory"),
        ({"b": "second", "a": {"c": "first"}, "n": 3}, "a.c: first\nb: second"),
    ],
)
def test_text_is_derived_from_the_payload(api, payload, text):
    assert create(api, payload=payload)["memory"]["text"] == text


def test_get_by_id_and_by_equivalent_coordinates(api):
    memory = create(api, coord="3,4")["memory"]

    for ref in (memory["id"], "3,4", "3.0,4.0", "3.00,4"):
        response = api.get(f"/memories/{ref}")
        assert response.status_code == 200, ref
        assert response.json()["memory"]["id"] == memory["id"]


def test_patch_updates_fields_and_rederives_text(api):
    memory = create(api, coord="5,6", payload={"content": "before"})["memory"]

    response = api.patch("/memories/5,6", {"payload": {"content": "after"}, "importance": 0.9, "metadata": {"k": "v"}})

    assert response.status_code == 200
    patched = response.json()["memory"]
    assert patched["id"] == memory["id"]
    assert patched["payload"] == {"content": "after"}
    assert patched["text"] == "after"
    assert patched["importance"] == 0.9
    assert patched["metadata"] == {"k": "v"}
    assert patched["updated_at"] >= memory["updated_at"]


def test_patch_keeps_an_explicit_text(api):
    create(api, coord="5,7", payload={"content": "payload words"}, text="curated text")

    patched = api.patch("/memories/5,7", {"payload": {"content": "changed"}}).json()["memory"]

    assert patched["text"] == "curated text"


def test_delete_by_id_then_get_404_and_delete_again_is_deleted_false(api):
    memory = create(api)["memory"]

    first = api.delete(f"/memories/{memory['id']}")
    again = api.delete(f"/memories/{memory['id']}")

    assert first.status_code == 200
    assert first.json() == {"deleted": True, "id": memory["id"], "coord": None}
    # idempotent, as the earlier service: what is not there is not an error
    assert again.status_code == 200
    assert again.json() == {"deleted": False, "id": memory["id"], "coord": None}
    response = api.get(f"/memories/{memory['id']}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"Memory {memory['id']!r} not found.", "code": "memory_not_found"}


def test_delete_of_a_coordinate_never_stored_is_deleted_false(api):
    response = api.delete("/memories/1,2,3")

    assert response.status_code == 200
    assert response.json() == {"deleted": False, "id": None, "coord": "1.0,2.0,3.0"}


def test_delete_of_a_malformed_reference_is_still_a_400(api):
    response = api.delete("/memories/not-a-ref")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_reference"


# --- tenants ----------------------------------------------------------------------------


def test_tenants_are_isolated(api_for):
    alice, bob = api_for("alice"), api_for("bob")
    mine = create(alice, coord="1,1", payload={"content": "alice's"})["memory"]

    assert bob.get(f"/memories/{mine['id']}").status_code == 404
    assert bob.get("/memories/1,1").status_code == 404
    assert bob.patch(f"/memories/{mine['id']}", {"importance": 1}).status_code == 404
    assert bob.delete(f"/memories/{mine['id']}").json() == {"deleted": False, "id": mine["id"], "coord": None}
    assert bob.delete("/memories/1,1").json() == {"deleted": False, "id": None, "coord": "1.0,1.0"}
    assert alice.get(f"/memories/{mine['id']}").status_code == 200
    assert bob.get("/memories").json()["items"] == []
    assert bob.get("/stats").json()["total_memories"] == 0

    # the same coordinate is free in the other tenant
    theirs = create(bob, coord="1,1", payload={"content": "bob's"})
    assert theirs["created"] is True
    assert alice.get("/memories/1,1").json()["memory"]["payload"] == {"content": "alice's"}


def test_default_tenant_without_header(api, api_for):
    memory = create(api)["memory"]
    assert api_for("default").get(f"/memories/{memory['id']}").status_code == 200


# --- refused requests leave everything as it was ----------------------------------------


@pytest.fixture
def stored(api):
    create(api, coord="9,9", payload={"content": "keep me"}, metadata={"m": 1}, importance=0.5)
    return snapshot()


BAD_CREATES = [
    # (body or raw, status, code)
    ({"coord": "nan,1", "payload": {}}, 400, "invalid_coordinate"),
    ({"coord": "1,inf", "payload": {}}, 400, "invalid_coordinate"),
    ({"coord": "one,two", "payload": {}}, 400, "invalid_coordinate"),
    ({"coord": ",".join(["1"] * 17), "payload": {}}, 400, "invalid_coordinate"),
    ('{"coord": [1e308, 1e309], "payload": {}}', 400, "invalid_coordinate"),
    ({"payload": "not an object"}, 422, "validation_error"),
    ({"coord": "9,9"}, 422, "validation_error"),
    ({"coord": "9,9", "payload": {}, "importance": 1.5}, 422, "validation_error"),
    ({"coord": "9,9", "payload": {}, "importance": -0.1}, 422, "validation_error"),
    ({"coord": "9,9", "payload": {}, "memory_type": "dream"}, 422, "validation_error"),
    ({"coord": "9,9", "payload": {}, "namespace": "no spaces"}, 422, "validation_error"),
    ({"coord": "9,9", "payload": {}, "text": "x" * 20_001}, 422, "validation_error"),
    ('{"coord": "9,9", "payload": ', 400, "invalid_json"),
    ('{"coord": "9,9", "payload": {"x": NaN}}', 400, "invalid_json"),
    ('{"coord": "9,9", "payload": {}, "importance": Infinity}', 400, "invalid_json"),
    (b'{"coord": "9,9", "payload": {"x": "\xff\xfe"}}', 400, "invalid_json"),
    ('{"coord": "9,9", "payload": ' + "[" * 100_000 + "]" * 100_000 + "}", 400, "invalid_json"),
    ({"coord": "9,9", "payload": {"deep": json.loads("[" * 40 + "]" * 40)}}, 400, "invalid_payload"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_CREATES)
def test_refused_creates_change_nothing(api, stored, body, status, code):
    response = api.post("/memories", raw=body) if isinstance(body, str | bytes) else api.post("/memories", body)

    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == code
    assert isinstance(response.json()["detail"], str | list)
    assert snapshot() == stored


def test_body_over_the_limit_is_413(api, stored, settings):
    settings.SOMA_MAX_BODY_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = api.post("/memories", {"coord": "9,9", "payload": {"content": "x" * 2000}})

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is larger than 1000 bytes.", "code": "payload_too_large"}
    assert snapshot() == stored


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"importance": 2}, 422, "validation_error"),
        ({"payload": [1]}, 422, "validation_error"),
        ({"memory_type": "x"}, 422, "validation_error"),
        ({"coord": "1,2"}, 422, "validation_error"),
        ({"metadata": {"deep": json.loads("[" * 40 + "]" * 40)}}, 400, "invalid_payload"),
    ],
)
def test_refused_patches_change_nothing(api, stored, body, status, code):
    response = api.patch("/memories/9,9", body)

    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert snapshot() == stored


@pytest.mark.parametrize(
    ("path", "code"),
    [("/memories/not-a-ref", "invalid_reference"), ("/memories/1,nan", "invalid_coordinate")],
)
def test_malformed_references_are_400(api, stored, path, code):
    for method in (api.get, api.delete):
        response = method(path)
        assert response.status_code == 400
        assert response.json()["code"] == code
    assert snapshot() == stored


def test_missing_and_wrong_tokens_are_401(api_for, stored):
    for client in (api_for(token=None), api_for(token="wrong")):
        for response in (
            client.get("/memories"),
            client.post("/memories", {"payload": {}}),
            client.delete("/memories/9,9"),
        ):
            assert response.status_code == 401
            assert response.json() == {"detail": "Missing or invalid bearer token.", "code": "unauthorized"}
            assert response["WWW-Authenticate"].startswith("Bearer")
    assert snapshot() == stored


def test_bad_tenant_header_is_400(api_for, stored):
    response = api_for("bad tenant!").post("/memories", {"payload": {}})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_tenant"
    assert snapshot() == stored


def test_unknown_path_is_a_json_404(api):
    response = api.get("/nothing/here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


# --- batch ------------------------------------------------------------------------------


def test_batch_creates_and_updates(api):
    create(api, coord="1,1", payload={"content": "old"})

    response = api.post(
        "/memories/batch",
        {
            "memories": [
                {"coord": "1,1", "payload": {"content": "replaced"}},
                {"coord": "2,2", "payload": {"content": "two"}},
                {"payload": {"content": "no coordinate"}},
                {"coord": "2.0,2.0", "payload": {"content": "two again"}},
            ]
        },
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["created"] == 2
    assert body["updated"] == 1
    assert [item["coord"] for item in body["memories"]] == ["1.0,1.0", "2.0,2.0", None, "2.0,2.0"]
    assert body["memories"][1]["id"] == body["memories"][3]["id"]
    assert Memory.objects.count() == 3
    assert api.get("/memories/2,2").json()["memory"]["payload"] == {"content": "two again"}
    assert api.get("/memories/1,1").json()["memory"]["payload"] == {"content": "replaced"}


@pytest.mark.parametrize(
    ("bad_item", "code"),
    [
        ({"coord": "x,y", "payload": {}}, "invalid_coordinate"),
        ({"payload": "not an object"}, "validation_error"),
        ({"payload": {}, "importance": 3}, "validation_error"),
    ],
)
def test_batch_is_all_or_nothing(api, stored, bad_item, code):
    items = [{"coord": "1,1", "payload": {"content": "a"}}, bad_item, {"coord": "9,9", "payload": {"content": "b"}}]

    response = api.post("/memories/batch", {"memories": items})

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "batch_item_invalid"
    assert body["detail"][0]["index"] == 1
    assert body["detail"][0]["code"] == code
    assert snapshot() == stored


def test_batch_over_1000_is_refused(api, stored):
    response = api.post("/memories/batch", {"memories": [{"payload": {}}] * 1001})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert snapshot() == stored


def test_batch_of_1000(api):
    items = [{"coord": f"{i},0", "payload": {"content": f"memory {i}"}} for i in range(1000)]
    response = api.post("/memories/batch", {"memories": items})
    assert response.status_code == 200
    assert response.json()["created"] == 1000
    assert Memory.objects.count() == 1000


# --- list -------------------------------------------------------------------------------


def test_list_filters_and_types(api):
    create(api, payload={"content": "a", "user_id": "u1", "score": 0.7, "tags": "x"}, memory_type="semantic")
    create(api, payload={"content": "b", "user_id": "u2", "score": 0.2}, metadata={"tags": "y"})
    create(api, payload={"content": "c", "score": "high"}, metadata={"user_id": "u1"})
    create(api, payload={"content": "d", "user_id": "u1"}, namespace="other")
    create(api, payload={"content": "e", "user_id": ["u3", "u4"], "score": [0.9]})

    def texts(**params):
        response = api.get("/memories", params)
        assert response.status_code == 200, response.content
        return sorted(item["text"] for item in response.json()["items"])

    assert texts() == ["a", "b", "c", "e"]
    assert texts(namespace="other") == ["d"]
    assert texts(memory_type="semantic") == ["a"]
    assert texts(filters=json.dumps({"user_id": "u1"})) == ["a", "c"]
    assert texts(filters=json.dumps({"user_id": "u4"})) == ["e"]
    assert texts(filters=json.dumps({"user_id": {"in": ["u2", "u3"]}})) == ["b", "e"]
    assert texts(filters=json.dumps({"tags": {"in": ["x", "y"]}})) == ["a", "b"]
    assert texts(filters=json.dumps({"score": {"gte": 0.5}})) == ["a"]
    assert texts(filters=json.dumps({"score": {"lt": 1}})) == ["a", "b"]
    assert texts(filters=json.dumps({"user_id": "u1", "score": {"gt": 0}})) == ["a"]
    assert texts(filters=json.dumps({"created_at": {"gte": "2000-01-01T00:00:00Z"}})) == ["a", "b", "c", "e"]
    assert texts(filters=json.dumps({"created_at": {"lt": "2000-01-01T00:00:00Z"}})) == []


def test_filter_keys_that_look_like_lookups_stay_keys(api):
    create(api, payload={"content": "a", "in": "x", "contains": "y"})
    create(api, payload={"content": "b"})

    response = api.get("/memories", {"filters": json.dumps({"in": "x", "contains": "y"})})

    assert [item["text"] for item in response.json()["items"]] == ["a"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"filters": '{"a": {"regex": "x"}}'}, 400, "invalid_filter"),
        ({"filters": "not json"}, 400, "invalid_filter"),
        ({"cursor": "garbage"}, 400, "invalid_cursor"),
        ({"limit": 501}, 422, "validation_error"),
        ({"limit": 0}, 422, "validation_error"),
        ({"memory_type": "dream"}, 422, "validation_error"),
    ],
)
def test_bad_list_parameters(api, params, status, code):
    response = api.get("/memories", params)
    assert response.status_code == status
    assert response.json()["code"] == code


def test_pagination_is_stable_under_concurrent_inserts(api):
    originals = {create(api, payload={"content": f"m{i}"})["memory"]["id"] for i in range(25)}

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/memories", params).json()
        seen.extend(item["id"] for item in page["items"])
        # another client keeps writing while we page
        create(api, payload={"content": "new while paging"})
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == len(set(seen))
    assert originals <= set(seen)
    assert set(seen) - originals == set()


def test_list_is_newest_first(api):
    ids = [create(api, payload={"content": str(i)})["memory"]["id"] for i in range(3)]
    assert [item["id"] for item in api.get("/memories").json()["items"]] == ids[::-1]


# --- query counts on the hot paths --------------------------------------------------------


def test_query_counts(api, django_assert_num_queries):
    create(api, coord="1,1")
    for i in range(20):
        create(api, payload={"content": str(i)})

    with django_assert_num_queries(1):
        assert api.get("/memories/1,1").status_code == 200
    with django_assert_num_queries(1):
        assert len(api.get("/memories", {"limit": 20}).json()["items"]) == 20
    # savepoint, upsert, release (the answer is built from the upsert's RETURNING, not reloaded)
    with django_assert_num_queries(3):
        assert api.post("/memories", {"coord": "2,2", "payload": {"content": "x"}}).json()["created"] is True
