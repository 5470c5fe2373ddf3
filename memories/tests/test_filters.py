from datetime import UTC, datetime

import pytest

from core.errors import InvalidInput
from memories.filters import FilterCondition, parse_filters


def test_grammar():
    conditions = parse_filters(
        '{"user_id": "u1", "tags": {"in": ["a", "b"]}, "score": {"gte": 0.5, "lt": 2},'
        ' "created_at": {"gte": "2025-01-01T00:00:00Z"}}'
    )
    assert conditions == [
        FilterCondition("user_id", "eq", "u1"),
        FilterCondition("tags", "in", ["a", "b"]),
        FilterCondition("score", "gte", 0.5),
        FilterCondition("score", "lt", 2),
        FilterCondition("created_at", "gte", datetime(2025, 1, 1, tzinfo=UTC)),
    ]


def test_empty_filters():
    assert parse_filters(None) == []
    assert parse_filters("") == []
    assert parse_filters("{}") == []


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        '{"a": {"like": "x"}}',
        '{"a b": 1}',
        '{"a;drop table": 1}',
        '{"a\'": 1}',
        '{"..": 1}',
        '{"a": {}}',
        '{"a": null}',
        '{"a": [1, 2]}',
        '{"a": {"in": []}}',
        '{"a": {"in": ["x", 1]}}',
        '{"a": {"gte": "x"}}',
        '{"a": {"gte": NaN}}',
        '{"created_at": "2025-01-01"}',
        '{"created_at": {"gte": "yesterday"}}',
        '{"created_at": {"eq": "2025-01-01T00:00:00Z"}}',
    ],
)
def test_bad_filters_are_refused(raw):
    with pytest.raises(InvalidInput) as excinfo:
        parse_filters(raw)
    assert excinfo.value.code == "invalid_filter"
