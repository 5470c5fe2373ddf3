"""Schemathesis against the live /openapi.json of a real server process.

Every documented operation gets valid (positive) and invalid (negative) generated requests with
the master token. No response may be a 5xx, every response must match its documented status,
content type and schema, invalid input must be refused with a 4xx, and every error carries the
`{"detail", "code"}` shape.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
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
