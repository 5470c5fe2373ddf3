"""soma_project.client_address: which address the throttles and the login lockout count under."""

from __future__ import annotations

import ipaddress

import pytest
from django.test import RequestFactory, override_settings

from soma_project import throttling
from soma_project.client_address import client_address

PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "fd00::/8"))


def _request(peer: str | None, forwarded: str | None = None):
    meta = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    request = RequestFactory().get("/admin/login/", **meta)
    if peer is None:
        del request.META["REMOTE_ADDR"]
    else:
        request.META["REMOTE_ADDR"] = peer
    return request


@pytest.mark.parametrize(
    ("hops", "trusted", "peer", "forwarded", "expected"),
    [
        # no proxy: the peer, whatever the header says
        (0, (), "10.1.1.1", "203.0.113.7", "10.1.1.1"),
        (0, (), "10.1.1.1", None, "10.1.1.1"),
        # one proxy: the entry it appended (the rightmost); what the client prepended is ignored
        (1, (), "10.1.1.1", "203.0.113.7", "203.0.113.7"),
        (1, (), "10.1.1.1", "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (1, (), "10.1.1.1", "6.6.6.6,203.0.113.7", "203.0.113.7"),
        # two proxies: the entry the outer one appended
        (2, (), "10.1.1.1", "6.6.6.6, 203.0.113.7, 10.2.2.2", "203.0.113.7"),
        # fewer entries than proxies: the leftmost (ninja's rule)
        (2, (), "10.1.1.1", "203.0.113.7", "203.0.113.7"),
        # no or an empty header: the peer
        (1, (), "10.1.1.1", None, "10.1.1.1"),
        (1, (), "10.1.1.1", " , ", "10.1.1.1"),
        # trusted networks: believed from inside them only
        (1, PRIVATE, "10.1.1.1", "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (1, PRIVATE, "198.51.100.4", "203.0.113.7", "198.51.100.4"),
        (1, PRIVATE, "fd00::5", "2001:db8::9", "2001:db8::9"),
        (1, PRIVATE, "::ffff:10.1.1.1", "203.0.113.7", "203.0.113.7"),
        # ports and brackets some proxies write; canonical form
        (1, (), "10.1.1.1", "203.0.113.7:51234", "203.0.113.7"),
        (1, (), "10.1.1.1", "[2001:DB8::9]:443", "2001:db8::9"),
        (1, (), "10.1.1.1", "2001:db8:0::9", "2001:db8::9"),
        # not an address: the peer, never the made-up value
        (1, (), "10.1.1.1", "6.6.6.6, unknown", "10.1.1.1"),
        (1, (), "10.1.1.1", "203.0.113.7, <script>", "10.1.1.1"),
        (1, (), "10.1.1.1", "' OR 1=1 --", "10.1.1.1"),
    ],
)
def test_client_address(hops, trusted, peer, forwarded, expected):
    with override_settings(SOMA_NUM_PROXIES=hops, SOMA_TRUSTED_PROXIES=trusted):
        assert client_address(_request(peer, forwarded)) == expected


def test_no_peer_address_gives_none():
    with override_settings(SOMA_NUM_PROXIES=1, SOMA_TRUSTED_PROXIES=()):
        assert client_address(_request(None, "203.0.113.7")) is None


def test_the_throttles_count_under_the_same_address():
    request = _request("10.1.1.1", "6.6.6.6, 203.0.113.7")
    with override_settings(SOMA_NUM_PROXIES=1, SOMA_TRUSTED_PROXIES=PRIVATE):
        assert throttling.ClientIpRateThrottle().ident(request) == "203.0.113.7"
    with override_settings(SOMA_NUM_PROXIES=0, SOMA_TRUSTED_PROXIES=()):
        assert throttling.ClientIpRateThrottle().ident(request) == "10.1.1.1"
