"""Production settings, secrets from files, `check --deploy`, JSON logs, nothing secret in logs.

Settings are read once per process, so each configuration is loaded in a fresh interpreter
with a controlled environment (no variable inherited from the test run).
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
SECRET_KEY = secrets.token_urlsafe(50)
PRODUCTION = {
    "SOMA_ENV": "production",
    "DATABASE_URL": "postgres://soma:pw@127.0.0.1:5432/soma_check",
    "DJANGO_SECRET_KEY": SECRET_KEY,
    "ALLOWED_HOSTS": "memory.example.com",
    "SOMA_API_TOKEN": "master-token-from-env",
}


def run_python(code: str, env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "soma_project.settings",
        "SOMA_DATA_DIR": str(tmp_path / "data"),
        # Explicitly empty, so a developer's .env cannot fill them in (it never overrides).
        "DJANGO_SECRET_KEY": "",
        "SOMA_API_TOKEN": "",
        "ALLOWED_HOSTS": "",
        "REDIS_URL": "",
        "QDRANT_URL": "",
    }
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, *args]
    return subprocess.run(command, env={**base, **env}, cwd=BASE_DIR, capture_output=True, text=True, timeout=120)


SETUP = "import django; django.setup(); from django.conf import settings\n"


def test_production_refuses_to_start_naming_everything_missing(tmp_path):
    env = {key: value for key, value in PRODUCTION.items() if key in {"SOMA_ENV", "DATABASE_URL"}}

    done = run_python(SETUP, env, tmp_path)

    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: SOMA_ENV=production needs")
    for name in ("DJANGO_SECRET_KEY", "SOMA_API_TOKEN", "ALLOWED_HOSTS"):
        assert name in last_line


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "SOMA_API_TOKEN", "ALLOWED_HOSTS"])
def test_production_names_exactly_the_missing_setting(tmp_path, missing):
    env = {**PRODUCTION, missing: ""}

    done = run_python(SETUP, env, tmp_path)

    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line and missing in last_line
    assert [name for name in ("DJANGO_SECRET_KEY", "SOMA_API_TOKEN", "ALLOWED_HOSTS") if name in last_line] == [missing]


def test_production_is_the_default_when_a_database_url_is_set(tmp_path):
    env = {"DATABASE_URL": PRODUCTION["DATABASE_URL"]}

    done = run_python(SETUP, env, tmp_path)

    assert done.returncode != 0
    assert "SOMA_ENV=production needs" in done.stderr


def test_production_starts_with_everything_set(tmp_path):
    done = run_python(
        SETUP + "print(settings.PRODUCTION, settings.DEBUG, settings.ALLOWED_HOSTS)", PRODUCTION, tmp_path
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True False ['memory.example.com']"


def test_secrets_come_from_files(tmp_path):
    (tmp_path / "secret_key").write_text(SECRET_KEY + "\n")
    (tmp_path / "token").write_text("master-token-from-file\n")
    (tmp_path / "qdrant").write_text("qdrant-key-from-file\n")
    env = {
        **PRODUCTION,
        "DJANGO_SECRET_KEY": "",
        "SOMA_API_TOKEN": "ignored-when-the-file-is-set",
        "DJANGO_SECRET_KEY_FILE": str(tmp_path / "secret_key"),
        "SOMA_API_TOKEN_FILE": str(tmp_path / "token"),
        "QDRANT_API_KEY_FILE": str(tmp_path / "qdrant"),
    }
    code = SETUP + (
        "from django.test import RequestFactory\n"
        "from soma_project.auth import BearerAuth\n"
        "request = RequestFactory().get('/memories', headers={'X-Soma-Tenant': 'acme'})\n"
        "principal = BearerAuth().authenticate(request, 'master-token-from-file')\n"
        f"print(settings.SECRET_KEY == {SECRET_KEY!r}, settings.SOMA_API_TOKEN, settings.QDRANT_API_KEY)\n"
        "print(principal.tenant, principal.is_master)\n"
    )

    done = run_python(code, env, tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True master-token-from-file qdrant-key-from-file", "acme True"]


def test_an_unreadable_secret_file_is_named(tmp_path):
    env = {**PRODUCTION, "SOMA_API_TOKEN_FILE": str(tmp_path / "missing")}

    done = run_python(SETUP, env, tmp_path)

    assert done.returncode != 0
    assert f"SOMA_API_TOKEN_FILE='{tmp_path / 'missing'}' cannot be read" in done.stderr


def test_check_deploy_passes_with_production_settings(tmp_path):
    done = run_python("", PRODUCTION, tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout
    assert "WARNINGS" not in done.stdout + done.stderr


def test_json_logs_on_demand(tmp_path):
    code = SETUP + (
        "import logging\nlogging.getLogger('soma.test').warning('stored %s memories', 3, extra={'tenant': 'acme'})\n"
    )

    done = run_python(code, {**PRODUCTION, "SOMA_LOG_JSON": "true"}, tmp_path)

    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stderr.strip().splitlines()[-1])
    assert {key: entry[key] for key in ("level", "logger", "message", "tenant")} == {
        "level": "WARNING",
        "logger": "soma.test",
        "message": "stored 3 memories",
        "tenant": "acme",
    }
    assert entry["ts"].endswith("+00:00")


def test_plain_logs_by_default(tmp_path):
    code = SETUP + "import logging\nlogging.getLogger('soma.test').warning('hello')\n"

    done = run_python(code, PRODUCTION, tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().endswith("WARNING soma.test hello")


@pytest.mark.django_db
def test_tokens_keys_and_payloads_never_reach_the_logs(api_for, caplog):
    from accounts.services import api_key_create

    caplog.set_level(logging.DEBUG)
    issued = api_key_create(tenant="acme")
    secret_payload = "payload-secret-4f1c9a"
    wrong_token = "sfm_0123456789abcdef_wrong-secret-7d2e"

    api_for(token=wrong_token).get("/memories")
    api_for(token="not-a-key-91ab").post("/memories", {"payload": {"content": secret_payload}})
    api_for(token=issued.token, tenant="globex").post("/memories", {"payload": {"content": secret_payload}})
    api_for(token=issued.token).post("/memories", raw='{"payload": {"content": "' + secret_payload + '"')
    api_for(token=issued.token).post("/memories", {"payload": secret_payload})
    api_for(token=issued.token).post("/memories", {"payload": {"content": secret_payload}, "importance": 7})

    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert caplog.records, "expected the refused requests to be logged"
    for secret in (
        issued.token,
        issued.token.split("_", 2)[2],
        wrong_token,
        "not-a-key-91ab",
        "test-master-token",
        secret_payload,
    ):
        assert secret not in logged


@pytest.mark.parametrize("rate", ["fast", "0/m", "100/week", "100"])
def test_a_malformed_throttle_rate_stops_the_start(tmp_path, rate):
    done = run_python(SETUP, {**PRODUCTION, "SOMA_THROTTLE_KEY_RATE": rate}, tmp_path)

    assert done.returncode != 0
    assert "ImproperlyConfigured: SOMA_THROTTLE_KEY_RATE must look like" in done.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SOMA_TRUSTED_PROXIES", "10.0.0.0/8,ingress", "SOMA_TRUSTED_PROXIES must be addresses or CIDR networks"),
        ("SOMA_NUM_PROXIES", "-1", "SOMA_NUM_PROXIES must be 0 or more"),
        ("SOMA_LOGIN_FAILURE_LIMIT", "0", "SOMA_LOGIN_FAILURE_LIMIT and SOMA_LOGIN_LOCKOUT_SECONDS must be 1 or more"),
        (
            "SOMA_LOGIN_LOCKOUT_SECONDS",
            "0",
            "SOMA_LOGIN_FAILURE_LIMIT and SOMA_LOGIN_LOCKOUT_SECONDS must be 1 or more",
        ),
        ("SOMA_LOGIN_LOCKOUT_BY", "username,user_agent", "SOMA_LOGIN_LOCKOUT_BY: 'user_agent' must be"),
    ],
)
def test_a_malformed_client_address_or_lockout_setting_stops_the_start(tmp_path, variable, value, message):
    done = run_python(SETUP, {**PRODUCTION, variable: value}, tmp_path)

    assert done.returncode != 0
    assert f"ImproperlyConfigured: {message}" in done.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SOMA_HISTORY_RETENTION_DAYS", "abc"), ("SOMA_DB_POOL_MAX", "ten"), ("SOMA_DB_POOL_TIMEOUT", "soon")],
)
def test_a_number_that_does_not_parse_names_its_variable(tmp_path, variable, value):
    done = run_python(SETUP, {**PRODUCTION, variable: value}, tmp_path)

    assert done.returncode != 0
    assert f"ImproperlyConfigured: {variable}={value!r} cannot be read" in done.stderr


def test_login_lockout_settings_from_the_environment(tmp_path):
    code = SETUP + (
        "print(settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME.total_seconds(),"
        " settings.AXES_LOCKOUT_PARAMETERS, [str(n) for n in settings.SOMA_TRUSTED_PROXIES])"
    )
    defaults = run_python(code, PRODUCTION, tmp_path)
    chosen = run_python(
        code,
        {
            **PRODUCTION,
            "SOMA_LOGIN_FAILURE_LIMIT": "8",
            "SOMA_LOGIN_LOCKOUT_SECONDS": "60",
            "SOMA_LOGIN_LOCKOUT_BY": "username+ip_address, ip_address",
            "SOMA_TRUSTED_PROXIES": "10.0.0.0/8, fd00::/8, 192.168.1.7",
        },
        tmp_path,
    )

    assert defaults.stdout.strip() == "5 900.0 ['username', 'ip_address'] []", defaults.stderr
    assert (
        chosen.stdout.strip()
        == "8 60.0 [['username', 'ip_address'], 'ip_address'] ['10.0.0.0/8', 'fd00::/8', '192.168.1.7/32']"
    ), chosen.stderr
