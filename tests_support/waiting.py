"""Bounded waits for the tests: poll a condition until a deadline, never sleep a fixed time hoping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """`check()`'s first truthy answer; an AssertionError naming `what` once `timeout` seconds pass.

    Exceptions of the `ignoring` types count as "not yet" (a server that is still restarting).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            answer = check()
        except ignoring as exc:
            last_error = exc
        else:
            if answer:
                return answer
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            raise AssertionError(f"{what}: not within {timeout}s{detail}")
        time.sleep(interval)
