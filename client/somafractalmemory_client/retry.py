"""The retry policy both clients follow, and how one attempt's answer is judged.

Retries: a 429 is retried after its `Retry-After` (when that is at most `Retry.max_wait`), a 503
and a failed connection with exponential backoff and jitter, up to `Retry.attempts` tries in
all (at least 1: `Retry(attempts=0)` is refused, `Retry(attempts=1)` never retries). A write
without an idempotency key is retried only when the server cannot have run it (a 429, or a
connection that never opened); give `idempotency_key=True` (a fresh key per call, the same for
its retries) or your own key to make retried writes safe after a 503. Nothing else is retried:
an argument refused before sending (`InvalidArgument`), an answer the endpoint does not give
(`UnexpectedAnswer`), or any other refusal.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from somafractalmemory_client.calls import Call, check_header, encode_json
from somafractalmemory_client.calls import IdempotencyKey as IdempotencyKey  # still importable from here
from somafractalmemory_client.errors import InvalidArgument, TransportError, UnexpectedAnswer, error_for

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:9595"


@dataclass(frozen=True)
class Retry:
    attempts: int = 4  # tries in all, the first included
    backoff: float = 0.25  # seconds before the first retry of a 503; doubled each time
    max_backoff: float = 8.0
    max_wait: float = 60.0  # a longer Retry-After is not waited for: the 429 is raised

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise InvalidArgument(
                f"Retry(attempts={self.attempts!r}): attempts counts every try, the first included, "
                "so it is an int of at least 1 (1: never retry)"
            )
        for name in ("backoff", "max_backoff", "max_wait"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) < math.inf:
                raise InvalidArgument(f"Retry({name}={value!r}): seconds, a finite number of at least 0")


@dataclass
class Outcome:
    """What one attempt tells the retry loop: an answer, or how long to wait before the next try."""

    value: Any = None
    error: Exception | None = None
    wait: float | None = None


def base_headers(token: str | None, tenant: str | None) -> dict[str, str]:
    """The headers of every request; `InvalidArgument` for a token or tenant no header can carry."""
    headers = {"Accept": "application/json", "User-Agent": "somafractalmemory-client/1.4"}
    if token:
        headers["Authorization"] = f"Bearer {check_header('token', token)}"
    if tenant:
        headers["X-Soma-Tenant"] = check_header("tenant", tenant)
    return headers


def check_base_url(base_url: str | httpx.URL) -> httpx.URL:
    """The server's URL, parsed; `InvalidArgument` when it is malformed or not http(s)://host."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise InvalidArgument(f"base_url {base_url!r} is not a URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidArgument(f"base_url {base_url!r} is not an http:// or https:// URL with a host")
    return url


def request_kwargs(call: Call[Any]) -> dict[str, Any]:
    """`httpx` request arguments for `call`; the body is encoded here, so a body JSON cannot
    hold is an `InvalidArgument` before anything is sent."""
    kwargs: dict[str, Any] = {"params": call.params or None, "headers": dict(call.headers)}
    if call.body is not None:
        kwargs["content"] = encode_json(call.body, f"the body of {call.method} {call.path}")
        kwargs["headers"].setdefault("Content-Type", "application/json")
    return kwargs


def build_request(build: Callable[..., httpx.Request], call: Call[Any], headers: Mapping[str, str]) -> httpx.Request:
    """The request of `call`, built once for all its tries by `build` (a client's
    `build_request`); `InvalidArgument` when it cannot be (a query too long for a URL, a
    parameter that cannot be encoded)."""
    kwargs = request_kwargs(call)
    kwargs["headers"] = {**headers, **kwargs["headers"]}
    try:
        return build(call.method, call.path, **kwargs)
    except (httpx.InvalidURL, UnicodeEncodeError, TypeError, ValueError) as exc:
        hint = " (search with use_get=False sends the query in the body)" if "too long" in str(exc) else ""
        raise InvalidArgument(f"{call.method} {call.path}: the request cannot be built: {exc}{hint}") from exc


def read_body(response: httpx.Response) -> Any:
    """The body as JSON, or as text when it is not JSON (or too deeply nested to read)."""
    try:
        return response.json()
    except (ValueError, RecursionError):
        return response.text


def unexpected(call: Call[Any], response: httpx.Response, reason: str) -> UnexpectedAnswer:
    return UnexpectedAnswer(call.method, call.path, response.status_code, response.text, reason)


def judge(call: Call[T], response: httpx.Response, attempt: int, retry: Retry) -> Outcome:
    body = read_body(response)
    if response.status_code in call.answers:
        try:
            return Outcome(value=call.parse(body))
        except Exception as exc:  # KeyError, TypeError, pydantic's ValidationError, RecursionError...
            odd = unexpected(call, response, _first_line(exc))
            odd.__cause__ = exc
            return Outcome(error=odd)
    if response.status_code < 400:
        return Outcome(error=unexpected(call, response, "not a status this endpoint answers"))
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def connect_failed(exc: Exception, call: Call[Any], attempt: int, retry: Retry) -> Outcome:
    # A refused connection never reached the server; other transport failures may have.
    try:
        url: Any = exc.request.url  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        url = call.path
    error = TransportError(f"{call.method} {url}: could not reach the server: {exc or type(exc).__name__}")
    retriable = isinstance(exc, httpx.ConnectError) or call.idempotent
    if retriable and attempt + 1 < retry.attempts:
        return Outcome(error=error, wait=_backoff(attempt, retry))
    return Outcome(error=error)


class Attempts(Generic[T]):
    """The retry loop of one call, without its I/O, so that both clients run the same one.

    It is given the client's `build_request`, and builds the request once (a request that cannot
    be built is an `InvalidArgument`, raised here, before anything is sent). Iterating gives that
    request for each try; after each try, `wait_after` is told what came back (the response, or
    the `httpx.RequestError` the try raised) and answers how long to wait before the next one
    (0 once answered), or raises the error when there is none. The loop ends with the answer
    in `value`.
    """

    value: T

    def __init__(
        self,
        call: Call[T],
        headers: Mapping[str, str],
        retry: Retry,
        build: Callable[..., httpx.Request],
    ) -> None:
        self.call = call
        self.retry = retry
        self.request = build_request(build, call, headers)
        self._attempt = 0
        self._answered = False

    def __iter__(self) -> Iterator[httpx.Request]:
        for attempt in range(self.retry.attempts):
            self._attempt = attempt
            yield self.request
            if self._answered:
                return
        raise AssertionError("unreachable: the last attempt raises or answers")  # Retry.attempts >= 1

    def wait_after(self, answer: httpx.Response | httpx.RequestError) -> float:
        if isinstance(answer, httpx.Response):
            outcome = judge(self.call, answer, self._attempt, self.retry)
        elif isinstance(answer, httpx.TransportError):
            outcome = connect_failed(answer, self.call, self._attempt, self.retry)
        else:  # the answer could not be read (a body that cannot be decoded, too many redirects)
            error = UnexpectedAnswer(self.call.method, self.call.path, None, "", _first_line(answer))
            error.__cause__ = answer
            outcome = Outcome(error=error)
        if outcome.error is None:
            self.value = outcome.value
            self._answered = True
            return 0.0
        if outcome.wait is None:
            raise outcome.error
        return outcome.wait
