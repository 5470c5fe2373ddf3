"""The client's address, for the per-address throttles and the console's login lockout.

REMOTE_ADDR is the socket's peer in both serving modes: waitress passes it through, and the
gunicorn config turns off uvicorn's own rewrite from X-Forwarded-For (soma_project/gunicorn_conf.py),
so this module is the one place that decides whether to believe a forwarding header.

- SOMA_NUM_PROXIES = 0 (default): the peer, whatever the headers say.
- SOMA_NUM_PROXIES = N: the N-th X-Forwarded-For entry from the right, the one the outermost of
  N proxies appended (as ninja's throttles count). A client can only prepend entries, so what it
  sends never reaches that position when its request went through the N proxies.
- SOMA_TRUSTED_PROXIES (networks): X-Forwarded-For is believed only when the peer is inside one,
  so a request that bypasses the proxy (from anywhere else) is counted under its own address.

An entry that is not an IP address (a broken or hostile proxy chain) falls back to the peer: the
lockout stores addresses in an `inet` column, and a made-up value must not open a new budget.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    peer: str | None = request.META.get("REMOTE_ADDR") or None
    hops = settings.SOMA_NUM_PROXIES
    if hops <= 0 or peer is None:
        return peer
    if settings.SOMA_TRUSTED_PROXIES and not _inside(peer, settings.SOMA_TRUSTED_PROXIES):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
    if not entries:
        return peer
    return _address(entries[-min(hops, len(entries))]) or peer


def _inside(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    parsed = _parse(address)
    if parsed is None:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return any(parsed in network for network in networks)


def _address(entry: str) -> str | None:
    parsed = _parse(entry)
    return None if parsed is None else str(parsed)


def _parse(entry: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address, also in the `1.2.3.4:port` and `[2001:db8::1]:port` forms some proxies write."""
    candidate = entry
    if candidate.startswith("["):
        candidate = candidate[1:].partition("]")[0]
    elif candidate.count(":") == 1:
        candidate = candidate.partition(":")[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None
