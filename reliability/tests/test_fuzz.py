"""Schemathesis against the live /openapi.json of a real server process.

Every documented operation gets valid (positive) and invalid (negative) generated requests with
the master token. No response may be a 5xx, every response must match its documented status,
content type and schema, invalid input must be refused with a 4xx, and every error carries the
`{"detail", "code"}` shape.
"""

from __future__ import annotations

import json
import os
import time
from decimal import Decimal
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CheckContext
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from reliability.processes import MASTER_TOKEN, LiveServer

# Cases per operation and generation mode: with ~17 operations x 2 modes this is a few thousand.
EXAMPLES = int(os.environ.get("SOMA_FUZZ_EXAMPLES", "100"))
BUDGET_SECONDS = float(os.environ.get("SOMA_FUZZ_BUDGET", "300"))


def error_shape(ctx: CheckContext, response: Any, case: schemathesis.Case) -> bool | None:
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not (isinstance(body, dict) and set(body) == {"detail", "code"} and isinstance(body["code"], str)):
        raise AssertionError(
            f"error response without the {{detail, code}} shape: {response.status_code} {response.text[:300]}"
        )
    return True


def server_error(ctx: CheckContext, response: Any, case: schemathesis.Case) -> bool | None:
    # Stricter than schemathesis' not_a_server_error: a documented 503 is still a failure here,
    # because every dependency is up during the fuzz run.
    if response.status_code >= 500:
        raise AssertionError(f"server error {response.status_code}: {response.text[:300]}")
    return True


def invalid_input_refused(ctx: CheckContext, response: Any, case: schemathesis.Case) -> bool | None:
    # A scalar query parameter sent several times is not refused: Django (like most frameworks)
    # reads the last value, which is then validated like any other. Every other invalid input is.
    if case.query and any(isinstance(value, list) for value in case.query.values()):
        return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [
    server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    invalid_input_refused,
    error_shape,
]


def _fuzz_operation(operation: Any, mode: GenerationMode, session: requests.Session, stats: dict[str, int]) -> None:
    headers = {"Authorization": f"Bearer {MASTER_TOKEN}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        stats["cases"] += 1
        # The operation's own security scheme is the bearer token; generated headers must not
        # replace it (schemathesis would otherwise fuzz Authorization too).
        case.headers = {**(case.headers or {}), **headers}
        case.call_and_validate(session=session, checks=CHECKS, timeout=30)

    run()


def test_every_operation_survives_generated_requests(soma_server: LiveServer) -> None:
    # Given the live schema of a real server
    schema = schemathesis.openapi.from_url(f"{soma_server.url}/openapi.json", timeout=30)
    schema.config.base_url = soma_server.url
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    stats = {"cases": 0}
    failures: list[str] = []
    started = time.monotonic()
    session = requests.Session()

    # When every operation gets positive and negative cases
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if time.monotonic() - started > BUDGET_SECONDS:
                pytest.fail(f"fuzzing exceeded its {BUDGET_SECONDS}s budget after {stats['cases']} cases")
            try:
                _fuzz_operation(operation, mode, session, stats)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # no parameter or body to get wrong
            except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, not just the first
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {exc}"[:3000])

    # Then nothing failed, and the run was as large as promised
    elapsed = time.monotonic() - started
    print(f"fuzz: {stats['cases']} cases over {len(operations)} operations in {elapsed:.0f}s")
    assert not failures, "\n\n".join(failures) + "\n\nserver log:\n" + soma_server.log_tail(40)
    assert stats["cases"] >= len(operations) * EXAMPLES


# --- property-based strategies for the input classes schema-shaped cases do not reach ------------
#
# Dates that parse as ISO text but name no instant, numbers beyond a double, Unicode digits and
# spaces, cursors, payload values. Every answer is a 2xx or a 4xx in the error shape; a refused
# write changes nothing, and an accepted memory is stored as sent and findable.

CLASS_EXAMPLES = max(15, EXAMPLES // 4)
_DIGITS = "0123456789\u00b2\u00b9\u2460\u0663\uff11\u096a"
_SPACES = " \u00a0\u2003\t"


def _padded(number: int, width: int) -> st.SearchStrategy[str]:
    return st.just(str(number).zfill(width)) | st.text(_DIGITS, min_size=width, max_size=width)


@st.composite
def iso_like(draw: st.DrawFn) -> str:
    """ISO-8601-shaped text, often impossible: month 13, Feb 30, hour 25, offsets of 24 h, odd digits."""
    year = draw(_padded(draw(st.integers(0, 9999)), 4))
    month = draw(_padded(draw(st.integers(0, 13)), 2))
    day = draw(_padded(draw(st.integers(0, 32)), 2))
    hour = draw(_padded(draw(st.integers(0, 25)), 2))
    minute = draw(_padded(draw(st.integers(0, 61)), 2))
    offset = draw(st.sampled_from(["", "Z", "+00:00", "+23:59", "-23:59", "+24:00", "-24:00", "+99:00"]))
    separator = draw(st.sampled_from(["T", " ", "\u00a0"]))
    return f"{year}-{month}-{day}{separator}{hour}:{minute}:00{offset}" + draw(st.sampled_from(["", *_SPACES]))


def number_text() -> st.SearchStrategy[str]:
    """JSON number text: huge and tiny integers and floats, exponents past a double's range."""
    return st.one_of(
        st.integers().map(str),
        st.integers(300, 420).map(lambda digits: "9" * digits),
        st.integers(300, 420).map(lambda digits: "-" + "9" * digits),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.sampled_from(["1e308", "1e309", "-1e400", "5e-324", "1e-400", "0.0", "-0"]),
    )


def _filters_strategy() -> st.SearchStrategy[str]:
    moment = iso_like().map(json.dumps) | st.text(_DIGITS + _SPACES + "-:T", max_size=30).map(json.dumps)
    created = st.tuples(st.sampled_from(["gt", "gte", "lt", "lte"]), moment).map(
        lambda pair: f'{{"created_at": {{"{pair[0]}": {pair[1]}}}}}'
    )
    ranged = st.tuples(st.sampled_from(["gt", "gte", "lt", "lte", "eq"]), number_text()).map(
        lambda pair: f'{{"n": {{"{pair[0]}": {pair[1]}}}}}'
    )
    listed = st.lists(number_text(), min_size=1, max_size=3).map(
        lambda items: f'{{"n": {{"in": [{", ".join(items)}]}}}}'
    )
    text_value = st.text(_DIGITS + _SPACES + "ab", max_size=10).map(lambda value: json.dumps({"n": value}))
    return st.one_of(created, ranged, listed, number_text().map(lambda number: f'{{"n": {number}}}'), text_value)


def _settings(examples: int) -> Any:
    return settings(
        max_examples=examples, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )


def _check_answer(response: requests.Response, *, refused_codes: set[str] | None = None) -> None:
    assert response.status_code < 500, response.text[:300]
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"detail", "code"}, body
        if refused_codes is not None:
            assert body["code"] in refused_codes, body


def _stored_count(server: LiveServer, session: requests.Session) -> int:
    return int(session.get(f"{server.url}/stats").json()["total_memories"])


def test_generated_filter_values_are_answered_alike_on_list_and_every_search_mode(soma_server: LiveServer) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {MASTER_TOKEN}"
    seeded = session.post(f"{soma_server.url}/memories", json={"payload": {"content": "fuzzed filters", "n": 1}})
    assert seeded.status_code == 200

    @given(filters=_filters_strategy())
    @_settings(CLASS_EXAMPLES)
    def run(filters: str) -> None:
        answers = [session.get(f"{soma_server.url}/memories", params={"filters": filters}, timeout=30)]
        for mode in ("vector", "keyword", "hybrid"):
            body = f'{{"query": "fuzzed", "mode": "{mode}", "filters": {filters}}}'
            answers.append(session.post(f"{soma_server.url}/memories/search", data=body.encode(), timeout=30))
        for response in answers:
            _check_answer(response, refused_codes={"invalid_filter", "validation_error", "invalid_json"})
        # One rule per input class: list and every mode accept or refuse the same filter
        assert len({response.status_code for response in answers}) == 1, [
            (r.status_code, r.text[:120]) for r in answers
        ]

    run()


def test_generated_cursors_are_a_400_or_a_page(soma_server: LiveServer) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {MASTER_TOKEN}"
    session.post(f"{soma_server.url}/memories", json={"payload": {"content": "cursor anchor"}, "coord": "3,3"})

    @given(
        cursor=st.text(_DIGITS + _SPACES + "abcXYZ-_=+/", min_size=1, max_size=24) | st.text(min_size=1, max_size=24)
    )
    @_settings(CLASS_EXAMPLES * 2)
    def run(cursor: str) -> None:
        for path, params in (("/memories", {}), ("/graph/links", {"ref": "3,3"})):
            response = session.get(f"{soma_server.url}{path}", params={**params, "cursor": cursor}, timeout=30)
            # NUL anywhere in a query string is refused first, for the whole request (docs/api.md)
            codes = {"bad_request"} if "\x00" in cursor else {"invalid_cursor", "validation_error"}
            _check_answer(response, refused_codes=codes)

    run()


def test_generated_payload_values_are_refused_unchanged_or_stored_findable(soma_server: LiveServer) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {MASTER_TOKEN}"
    value = st.one_of(number_text(), iso_like().map(json.dumps), st.text(_DIGITS + _SPACES, max_size=8).map(json.dumps))

    @given(values=st.lists(value, min_size=1, max_size=3))
    @_settings(CLASS_EXAMPLES)
    def run(values: list[str]) -> None:
        before = _stored_count(soma_server, session)
        body = f'{{"payload": {{"content": "fuzzed payload", "values": [{", ".join(values)}]}}}}'
        response = session.post(f"{soma_server.url}/memories", data=body.encode(), timeout=30)
        _check_answer(response, refused_codes={"invalid_payload", "invalid_json"})
        if response.status_code >= 400:
            assert _stored_count(soma_server, session) == before
            return
        # Accepted: stored as sent and indexed, so search can find it. Compared as decimals:
        # PostgreSQL gives 1e308 back as the 309-digit integer it is, which no double equals.
        answer = session.get(f"{soma_server.url}/memories/{response.json()['memory']['id']}")
        memory = json.loads(answer.text, parse_float=Decimal, parse_int=Decimal)["memory"]
        assert memory["payload"] == json.loads(body, parse_float=Decimal, parse_int=Decimal)["payload"]
        assert memory["vector_status"] == "indexed"

    run()
