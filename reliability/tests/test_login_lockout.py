"""The console's login lockout (django-axes) against real servers over HTTP, logging in as a browser does.

Every client connects from its own loopback address (127.0.0.0/8 is all loopback on Linux), so
"another address" is a real other peer. The servers use a 3-failure limit and a 3-second window
(SOMA_LOGIN_FAILURE_LIMIT, SOMA_LOGIN_LOCKOUT_SECONDS): the library's own time settings, no
minutes of waiting.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from reliability.processes import MASTER_TOKEN, LiveServer, shared_database
from reliability.tests.conftest import _PREFIX, SHARED_REDIS, query

LIMIT = 3
WINDOW = 3
PASSWORD = "Lantern-harbour-4471"
LOGIN = "/admin/login/"
FORM_ERROR = "Please enter the correct username and password"
LOCKOUT_TEXT = "Too many failed logins"
_addresses = (f"127.0.{i}.{j}" for i, j in itertools.product(range(1, 200), range(2, 250)))


# Superusers of both servers, made in one `manage.py shell` each.
SUPERUSERS = (
    "keeper",
    "warden",
    "harbourmaster",
    "lamplighter",
    "ferryman",
    "pilot",
    "navigator",
    "cartographer",
    "auditor",
    "boatswain",
    "admiral",
    "purser",
    "helmsman",
)


def _start(name: str, **env: str) -> Iterator[LiveServer]:
    database = f"{_PREFIX}_{name}"
    server = LiveServer(
        database_url=shared_database(database),
        redis_url=SHARED_REDIS,
        env={"SOMA_LOGIN_FAILURE_LIMIT": str(LIMIT), "SOMA_LOGIN_LOCKOUT_SECONDS": str(WINDOW), **env},
    )
    try:
        server.start()
        # One password hash for all (PBKDF2 takes a while on a busy machine).
        server.manage(
            "shell",
            "-c",
            "from django.contrib.auth.hashers import make_password\n"
            "from django.contrib.auth.models import User\n"
            f"digest = make_password({PASSWORD!r})\n"
            f"User.objects.bulk_create(User(username=name, password=digest, is_staff=True, is_superuser=True)"
            f" for name in {SUPERUSERS!r})",
        )
        yield server
    finally:
        server.cleanup()
        shared_database(database, drop_only=True)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    """waitress (the embedded default's server); 127.0.0.1 plays the one trusted proxy."""
    yield from _start("lock_w", SOMA_NUM_PROXIES="1", SOMA_TRUSTED_PROXIES="127.0.0.1/32")


@pytest.fixture(scope="module")
def gunicorn_server() -> Iterator[LiveServer]:
    """gunicorn with two uvicorn workers (QDRANT_URL set: a closed port), no proxy trusted."""
    yield from _start(
        "lock_g",
        SOMA_VECTOR_STORE="qdrant",
        QDRANT_URL="http://127.0.0.1:9",
        SOMA_WORKERS="2",
        SOMA_NUM_PROXIES="0",
    )


class Browser:
    """Cookies, the CSRF token of the form and the Origin header, as a browser sends them."""

    def __init__(self, server: LiveServer, address: str | None = None, forwarded_for: str | None = None) -> None:
        self.address = address or next(_addresses)
        headers = {"Origin": server.url}
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        self.http = httpx.Client(
            base_url=server.url,
            headers=headers,
            timeout=30,
            transport=httpx.HTTPTransport(local_address=self.address),
        )

    def csrf_token(self, path: str = LOGIN) -> str:
        page = self.http.get(path)
        assert page.status_code == 200, page.text[:300]
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match, page.text[:300]
        return match.group(1)

    def login(self, username: str, password: str) -> httpx.Response:
        token = self.csrf_token()
        return self.http.post(
            f"{LOGIN}?next=/admin/",
            data={"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"},
        )

    def post_form(self, path: str, data: dict[str, str | list[str]], *, form_page: str | None = None) -> httpx.Response:
        return self.http.post(path, data={"csrfmiddlewaretoken": self.csrf_token(form_page or path), **data})

    def close(self) -> None:
        self.http.close()


def _assert_logged_in(browser: Browser, response: httpx.Response) -> None:
    assert (response.status_code, response.headers.get("location")) == (302, "/admin/"), response.text[:300]
    assert browser.http.get("/admin/").status_code == 200


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 200 and FORM_ERROR in response.text, response.text[:300]


def _assert_locked(response: httpx.Response) -> int:
    assert response.status_code == 429, (response.status_code, response.text[:300])
    assert LOCKOUT_TEXT in response.text and "Try again after" in response.text
    assert "sessionid" not in response.cookies
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= WINDOW
    return retry_after


def _lock(browser: Browser, username: str) -> httpx.Response:
    for _ in range(LIMIT - 1):
        _assert_refused(browser.login(username, "wrong-password"))
    response = browser.login(username, "wrong-password")
    _assert_locked(response)
    return response


def _attempt_addresses(server: LiveServer, username: str) -> set[str]:
    rows = query(
        server.env["DATABASE_URL"], "SELECT host(ip_address) FROM axes_accessattempt WHERE username = %s", (username,)
    )
    return {row[0] for row in rows}


# --- lockout ------------------------------------------------------------------------------------


def test_the_nth_failure_locks_and_the_window_lifts_it(server: LiveServer) -> None:
    # Given two superusers (keeper, warden) and browsers on four addresses
    attacker, other, third, fourth = (Browser(server) for _ in range(4))

    # When LIMIT - 1 wrong passwords are refused as usual and the LIMIT-th one is sent
    for _ in range(LIMIT - 1):
        _assert_refused(attacker.login("keeper", "wrong-password"))
    _assert_locked(attacker.login("keeper", "wrong-password"))

    # Then the right password is refused too, for that username from anywhere and from that address
    _assert_locked(attacker.login("keeper", PASSWORD))
    _assert_locked(other.login("keeper", PASSWORD))
    _assert_locked(attacker.login("warden", PASSWORD))
    # while another user on another address logs in
    _assert_logged_in(third, third.login("warden", PASSWORD))

    # When the window has passed since the last refused attempt
    last = other.login("keeper", PASSWORD)
    # The lockout's expiry is under test, in a server process (no clock to move): wait out the
    # Retry-After it answered, plus a margin for rounding to whole seconds.
    time.sleep(_assert_locked(last) + 0.2)

    # Then the right password is accepted again, from the attacker's address too
    _assert_logged_in(fourth, fourth.login("keeper", PASSWORD))
    _assert_logged_in(attacker, attacker.login("keeper", PASSWORD))
    for browser in (attacker, other, third, fourth):
        browser.close()


def test_the_lockout_page_does_not_tell_whether_the_username_exists(server: LiveServer) -> None:
    # Given an existing user and a name nobody has
    pages = []
    for username in ("harbourmaster", "no-such-user-1f3a"):
        browser = Browser(server)
        # When each is locked out
        response = _lock(browser, username)
        pages.append(response)
        browser.close()

    # Then both get the same status and the same page, short of the time it names
    def normalised(response: httpx.Response) -> str:
        text = re.sub(r"<time[^>]*>[^<]*</time>", "TIME", response.text)
        text = re.sub(r"\(in \d+ seconds?\)", "(in N)", text)
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)

    assert [p.status_code for p in pages] == [429, 429]
    assert normalised(pages[0]) == normalised(pages[1])
    assert "harbourmaster" not in pages[0].text


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(server: LiveServer) -> None:
    # Given a client that is not the trusted proxy, sending a new X-Forwarded-For each time
    address = next(_addresses)
    for i in range(LIMIT - 1):
        browser = Browser(server, address=address, forwarded_for=f"198.51.100.{i + 1}")
        _assert_refused(browser.login("lamplighter", "wrong-password"))
        browser.close()
    # When the LIMIT-th failure comes with yet another made-up address
    browser = Browser(server, address=address, forwarded_for="198.51.100.99")
    # Then it is locked all the same: every failure counted under the real peer
    _assert_locked(browser.login("lamplighter", "wrong-password"))
    assert _attempt_addresses(server, "lamplighter") == {address}
    # and the made-up addresses are not locked (through the proxy, one of them logs in)
    proxied = Browser(server, address="127.0.0.1", forwarded_for="198.51.100.99")
    _assert_logged_in(proxied, proxied.login("ferryman", PASSWORD))
    browser.close()
    proxied.close()


def test_the_forwarded_for_of_the_trusted_proxy_is_honoured(server: LiveServer) -> None:
    # Given requests through the trusted proxy (127.0.0.1), whose client prepends a spoofed hop
    attacker = Browser(server, address="127.0.0.1", forwarded_for="10.9.9.9, 203.0.113.7")
    # When that client fails LIMIT times
    _lock(attacker, "pilot")
    # Then the address the proxy wrote is the one locked, not the spoofed one nor the proxy
    assert _attempt_addresses(server, "pilot") == {"203.0.113.7"}
    neighbour = Browser(server, address="127.0.0.1", forwarded_for="203.0.113.8")
    _assert_logged_in(neighbour, neighbour.login("navigator", PASSWORD))
    same_client = Browser(server, address="127.0.0.1", forwarded_for="203.0.113.7")
    _assert_locked(same_client.login("navigator", PASSWORD))
    for browser in (attacker, neighbour, same_client):
        browser.close()


# --- the API is not involved --------------------------------------------------------------------


def test_the_api_ignores_the_lockout_and_bearer_failures_never_reach_it(server: LiveServer) -> None:
    # Given an address locked out of the console
    address = next(_addresses)
    browser = Browser(server, address=address)
    _lock(browser, "cartographer")
    attempts_before = query(server.env["DATABASE_URL"], "SELECT count(*) FROM axes_accessattempt")[0][0]
    transport = httpx.HTTPTransport(local_address=address)
    # When that address uses the API, with the master token and then with many wrong tokens
    with httpx.Client(base_url=server.url, transport=transport, timeout=30) as api:
        ok = api.get("/memories", headers={"Authorization": f"Bearer {MASTER_TOKEN}"})
        wrong = [api.get("/memories", headers={"Authorization": "Bearer wrong-token"}) for _ in range(LIMIT + 2)]
        still_ok = api.get("/memories", headers={"Authorization": f"Bearer {MASTER_TOKEN}"})
    # Then the API answers as always, and axes recorded nothing for it
    assert ok.status_code == 200 and still_ok.status_code == 200
    assert {(r.status_code, r.json()["code"]) for r in wrong} == {(401, "unauthorized")}
    assert query(server.env["DATABASE_URL"], "SELECT count(*) FROM axes_accessattempt")[0][0] == attempts_before
    browser.close()


# --- audit trail and lifting a lockout -----------------------------------------------------------


def test_logins_logouts_failures_and_lockouts_are_recorded_for_superusers(server: LiveServer) -> None:
    # Given a superuser who fails once, logs in and out, and a user who is locked out
    auditor = Browser(server)
    _assert_refused(auditor.login("auditor", "wrong-password"))
    _assert_logged_in(auditor, auditor.login("auditor", PASSWORD))
    intruder = Browser(server)
    _lock(intruder, "quartermaster")
    database = server.env["DATABASE_URL"]

    # Then the failure log has every failure, with the address and whether it locked out
    failures = query(
        database,
        "SELECT username, host(ip_address), locked_out FROM axes_accessfailurelog"
        " WHERE username IN ('auditor', 'quartermaster') ORDER BY attempt_time",
    )
    assert failures == [
        ("auditor", auditor.address, False),
        *[("quartermaster", intruder.address, False)] * (LIMIT - 1),
        ("quartermaster", intruder.address, True),
    ]
    # and the superuser sees them, the logins and the lockouts in the console
    for path, expected in [
        ("/admin/axes/accessfailurelog/?q=quartermaster", intruder.address),
        ("/admin/axes/accesslog/?q=auditor", auditor.address),
        ("/admin/axes/accessattempt/?q=quartermaster", "Locked Out"),
    ]:
        page = auditor.http.get(path)
        assert page.status_code == 200 and expected in page.text, path

    # When the superuser logs out
    assert auditor.post_form("/admin/logout/", {}, form_page="/admin/").status_code == 200
    # Then the access log has the login and the logout, from the superuser's address
    logins = query(
        database,
        "SELECT host(ip_address), logout_time IS NOT NULL FROM axes_accesslog WHERE username = 'auditor'",
    )
    assert logins == [(auditor.address, True)]
    auditor.close()
    intruder.close()


def test_a_curator_does_not_see_the_audit_trail(server: LiveServer) -> None:
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import Group, User;"
        f"u = User.objects.create_user('curator-audit', password={PASSWORD!r}, is_staff=True);"
        "u.groups.add(Group.objects.get(name='Curators'))",
    )
    curator = Browser(server)
    _assert_logged_in(curator, curator.login("curator-audit", PASSWORD))
    for model in ("accessattempt", "accesslog", "accessfailurelog"):
        assert curator.http.get(f"/admin/axes/{model}/").status_code == 403, model
    assert "/admin/axes/" not in curator.http.get("/admin/").text
    curator.close()


def test_a_superuser_lifts_a_lockout_in_the_console(server: LiveServer) -> None:
    # Given a locked-out user and a superuser elsewhere
    locked = Browser(server)
    _lock(locked, "boatswain")
    admiral = Browser(server)
    _assert_logged_in(admiral, admiral.login("admiral", PASSWORD))
    ids = [
        str(row[0])
        for row in query(server.env["DATABASE_URL"], "SELECT id FROM axes_accessattempt WHERE username = 'boatswain'")
    ]
    assert ids
    # When the superuser deletes the user's access attempts (the changelist's delete action)
    response = admiral.post_form(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert response.status_code == 302, response.text[:300]
    # Then the user logs in at once, from the same address
    _assert_logged_in(locked, locked.login("boatswain", PASSWORD))
    locked.close()
    admiral.close()


def test_an_operator_lifts_a_lockout_with_a_command(server: LiveServer) -> None:
    locked = Browser(server)
    _lock(locked, "purser")
    listed = server.manage("axes_list_attempts").stdout.decode()
    assert "purser" in listed

    server.manage("axes_reset_username", "purser")

    _assert_logged_in(locked, locked.login("purser", PASSWORD))
    locked.close()


# --- gunicorn with uvicorn workers ----------------------------------------------------------------


def test_gunicorn_counts_across_workers_and_believes_no_forwarded_for(gunicorn_server: LiveServer) -> None:
    # Given gunicorn with two workers, no proxy trusted, and a local client that spoofs X-Forwarded-For
    # (uvicorn on its own would take that header from a 127.0.0.1 peer)
    server = gunicorn_server
    responses = []
    for i in range(LIMIT):
        browser = Browser(server, address="127.0.0.1", forwarded_for=f"198.51.100.{i + 10}")
        responses.append(browser.login("helmsman", "wrong-password"))
        browser.close()
    # Then the failures, whichever worker took them, add up under the peer's own address
    for response in responses[:-1]:
        _assert_refused(response)
    retry_after = _assert_locked(responses[-1])
    assert _attempt_addresses(server, "helmsman") == {"127.0.0.1"}
    # and the API still answers that address
    assert server.client().get("/memories").status_code == 200
    # When the window has passed (its expiry is under test: wait out the Retry-After answered),
    # the right password is accepted
    time.sleep(retry_after + 0.2)
    browser = Browser(server, address="127.0.0.1")
    _assert_logged_in(browser, browser.login("helmsman", PASSWORD))
    browser.close()
