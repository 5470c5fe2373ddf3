"""Reading the settings' environment variables where a value needs more than django-environ's
casts: secrets from files, generated development secrets, throttle rates, proxy networks and
the login lockout's parameters. Each refusal raises ImproperlyConfigured naming the variable."""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured


class NamingEnv(environ.Env):
    """django-environ's Env, whose casts name the variable when its value does not parse:
    `SOMA_HISTORY_RETENTION_DAYS=abc` said only "invalid literal for int() with base 10"."""

    def get_value(self, var: str, *args: object, **kwargs: object) -> object:
        try:
            return super().get_value(var, *args, **kwargs)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ImproperlyConfigured(f"{var}={self.ENVIRON.get(var, '')!r} cannot be read: {exc}") from None


_RATE = re.compile(r"[1-9]\d*/\d*(s|sec|m|min|h|hour|d|day)")
_LOCKOUT_PARTS = {"username", "ip_address"}


def read_secret(env: environ.Env, name: str) -> str:
    """A secret comes from NAME or from the file named by NAME_FILE (a mounted secret)."""
    value = env.str(name, default="")
    file_name = env.str(f"{name}_FILE", default="")
    if file_name:
        try:
            value = Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    return value


def development_secret(data_dir: Path, file_name: str) -> str:
    """Outside production a missing secret is generated once and kept under the data dir."""
    path = data_dir / file_name
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def throttle_rate(name: str, value: str) -> str:
    # Checked at start: a malformed rate would otherwise fail every throttled request at run time.
    if not _RATE.fullmatch(value):
        raise ImproperlyConfigured(f"{name} must look like 100/s, 6000/m, 10/5m or 1000/h")
    return value


def trusted_proxies(values: list[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in values)
    except ValueError as exc:
        raise ImproperlyConfigured(f"SOMA_TRUSTED_PROXIES must be addresses or CIDR networks: {exc}") from exc


def lockout_parameters(items: list[str]) -> list[str | list[str]]:
    """SOMA_LOGIN_LOCKOUT_BY as django-axes wants it: "a" locks on a, "a+b" on the combination."""
    parameters: list[str | list[str]] = []
    for item in items:
        parts = [part.strip() for part in item.split("+")]
        if not set(parts) <= _LOCKOUT_PARTS:
            raise ImproperlyConfigured(
                f"SOMA_LOGIN_LOCKOUT_BY: {item!r} must be username, ip_address or username+ip_address"
            )
        parameters.append(parts[0] if len(parts) == 1 else parts)
    if not parameters:
        raise ImproperlyConfigured("SOMA_LOGIN_LOCKOUT_BY must name at least one of username, ip_address")
    return parameters
