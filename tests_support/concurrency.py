"""Calls released together from several threads, for race tests: bounded by count and time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def at_once(call: Callable[[], T], *, times: int, timeout: float = 30) -> list[T]:
    """`call()` from `times` threads released together by a barrier, each closing its own
    database connection after; their answers, once every thread has ended. A thread still
    running after `timeout` seconds, or a call that raised, fails the test here."""
    answers: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(times, timeout=10)

    def run() -> None:
        try:
            start.wait()
            answer = call()
            with lock:
                answers.append(answer)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), f"a call was still running after {timeout} s"
    if errors:
        raise errors[0]
    return answers
