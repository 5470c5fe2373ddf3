import pytest

pytestmark = pytest.mark.django_db


def test_create_then_get_by_coordinate(api):
    response = api.post("/memories", {"coord": "1.2,3.4,5.6", "payload": {"content": "hello"}})
    assert response.status_code == 201, response.content
    got = api.get("/memories/1.2,3.4,5.6")
    assert got.status_code == 200, got.content
    assert got.json()["memory"]["payload"] == {"content": "hello"}
