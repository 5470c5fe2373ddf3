"""The retry policy both clients follow, and how one attempt's answer is judged.

Retries: a 429 is retried after its `Retry-After` (when that is at most `Retry.max_wait`), a 503
and a failed connection with exponential backoff and jitter, up to `Retry.attempts` tries in
all. A write without an idempotency key is retried only when the server cannot have run it (a
429, or a connection that never opened); give `idempotency_key=True` (a fresh key per call, the
same for its retries) or your own key to make retried writes safe after a 503.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from somafractalmemory_client.calls import Call
from somafractalmemory_client.calls import IdempotencyKey as IdempotencyKey  # still importable from here
from somafractalmemory_client.errors import TransportError, error_for

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:9595"


@dataclass(frozen=True)
class Retry:
    attempts: int = 4  # tries in all, the first included
    backoff: float = 0.25  # seconds before the first retry of a 503; doubled each time
    max_backoff: float = 8.0
    max_wait: float = 60.0  # a longer Retry-After is not waited for: the 429 is raised


@dataclass
class Outcome:
    """What one attempt tells the retry loop: an answer, or how long to wait before the next try."""

    value: Any = None
    error: Exception | None = None
    wait: float | None = None


def base_headers(token: str | None, tenant: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "somafractalmemory-client/1.4"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if tenant:
        headers["X-Soma-Tenant"] = tenant
    return headers


def request_kwargs(call: Call[Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"params": call.params or None, "headers": dict(call.headers)}
    if call.body is not None:
        kwargs["json"] = call.body
    return kwargs


def judge(call: Call[T], response: httpx.Response, attempt: int, retry: Retry) -> Outcome:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if response.status_code in call.answers:
        return Outcome(value=call.parse(body))
    headers = {name.lower(): value for name, value in response.headers.items()}
    error = error_for(response.status_code, body, headers)
    last = attempt + 1 >= retry.attempts
    if response.status_code == 429 and not last:
        try:
            wait = max(0.0, float(headers.get("retry-after", "1")))
        except ValueError:
            wait = 1.0
        if wait <= retry.max_wait:
            return Outcome(error=error, wait=wait)
    if response.status_code == 503 and call.retry_unavailable and call.idempotent and not last:
        return Outcome(error=error, wait=_backoff(attempt, retry))
    return Outcome(error=error)


def _backoff(attempt: int, retry: Retry) -> float:
    delay: float = min(retry.max_backoff, retry.backoff * 2**attempt)
    return delay * random.uniform(0.5, 1.0)


def connect_failed(exc: Exception, call: Call[Any], attempt: int, retry: Retry) -> Outcome:
    # A refused connection never reached the server; other transport failures may have.
    retriable = isinstance(exc, httpx.ConnectError) or call.idempotent
    if retriable and attempt + 1 < retry.attempts:
        return Outcome(error=TransportError(str(exc)), wait=_backoff(attempt, retry))
    return Outcome(error=TransportError(str(exc)))


class Attempts(Generic[T]):
    """The retry loop of one call, without its I/O, so that both clients run the same one.

    Iterating gives the keyword arguments of each try's `request`; after each try, `wait_after`
    is told what came back and answers how long to wait before the next one (0 once answered),
    or raises the error when there is none. The loop ends with the answer in `value`.
    """

    value: T

    def __init__(self, call: Call[T], headers: Mapping[str, str], retry: Retry) -> None:
        self.call = call
        self.retry = retry
        self._request = {"method": call.method, "url": call.path, **request_kwargs(call)}
        self._request["headers"] = {**headers, **self._request["headers"]}
        self._attempt = 0
        self._answered = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for attempt in range(self.retry.attempts):
            self._attempt = attempt
            yield self._request
            if self._answered:
                return
        raise AssertionError("unreachable: the last attempt raises or answers")

    def wait_after(self, answer: httpx.Response | httpx.TransportError) -> float:
        if isinstance(answer, httpx.Response):
            outcome = judge(self.call, answer, self._attempt, self.retry)
        else:
            outcome = connect_failed(answer, self.call, self._attempt, self.retry)
        if outcome.error is None:
            self.value = outcome.value
            self._answered = True
            return 0.0
        if outcome.wait is None:
            raise outcome.error
        return outcome.wait
