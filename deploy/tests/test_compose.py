"""docker-compose.yml: valid against the Compose Specification's JSON schema and wired as the
seed describes. Plain functions: no database.

The schema is the one Debian's `docker-compose` package ships (scripts/test_deps.py installs it;
SOMA_COMPOSE_SCHEMA names another copy)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
SCHEMA_FILE = Path(
    os.environ.get("SOMA_COMPOSE_SCHEMA", "/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
)
# The schema is not a Python package: only the checks against it skip where it is absent.
needs_schema = pytest.mark.skipif(
    not SCHEMA_FILE.is_file(),
    reason=f"no Compose Specification schema at {SCHEMA_FILE} (a file of Debian's docker-compose package, "
    "which scripts/test_deps.py installs as root; SOMA_COMPOSE_SCHEMA names another copy)",
)
ENV_TEMPLATE = REPO / ".env.template"

# service -> (host port, container port), as in the seed's architecture note.
PUBLISHED = {
    "api": (9595, 9595),
    "postgres": (40021, 5432),
    "redis": (40022, 6379),
    "qdrant": (40023, 6333),
}
ONE_SHOT = {"migrate", "reindex"}
RESERVED_GRPC_PORT = 50053


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def parse_port(entry: Any) -> tuple[str | None, int | None, int]:
    """(host ip, published, target) of a short ("[ip:]host:container[/proto]") or long entry."""
    if isinstance(entry, dict):
        published = entry.get("published")
        return entry.get("host_ip"), int(published) if published is not None else None, int(entry["target"])
    text = str(entry).split("/")[0]
    parts = text.rsplit(":", 2)
    if len(parts) == 3:
        return parts[0], int(parts[1]), int(parts[2])
    if len(parts) == 2:
        return None, int(parts[0]), int(parts[1])
    return None, None, int(parts[0])


# --- the schema ---------------------------------------------------------------------------


@needs_schema
def test_schema_is_the_compose_specification():
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["title"] == "Compose Specification"
    jsonschema.Draft7Validator.check_schema(schema)


@needs_schema
def test_compose_file_is_valid(compose):
    schema = json.loads(SCHEMA_FILE.read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@needs_schema
def test_schema_catches_a_broken_file(compose):
    schema = json.loads(SCHEMA_FILE.read_text())
    broken = json.loads(json.dumps(compose))
    broken["services"]["api"]["depends_on"]["postgres"]["condition"] = "service_ready"
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


# --- ports --------------------------------------------------------------------------------


def test_published_ports_match_the_seed(services):
    for name, (published, target) in PUBLISHED.items():
        ports = [parse_port(p) for p in services[name].get("ports", [])]
        assert [(p, t) for _, p, t in ports] == [(published, target)], name


def test_backing_stores_are_published_on_loopback_only(services):
    for name in ("postgres", "redis", "qdrant"):
        ((host_ip, _, _),) = (parse_port(p) for p in services[name]["ports"])
        assert host_ip == "127.0.0.1", name


def test_grpc_port_is_reserved_not_published(services):
    for name, service in services.items():
        for entry in service.get("ports", []):
            _, published, target = parse_port(entry)
            assert RESERVED_GRPC_PORT not in (published, target), name
    assert str(RESERVED_GRPC_PORT) in COMPOSE_FILE.read_text()  # documented as reserved


def test_images(services):
    assert services["qdrant"]["image"].startswith("qdrant/qdrant:")
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("api", "migrate"):
        assert services[name]["build"]["context"] == "."
        assert services[name]["build"].get("dockerfile", "Dockerfile") == "Dockerfile"


# --- health and ordering ------------------------------------------------------------------


def test_every_service_declares_a_healthcheck(services):
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        if name in ONE_SHOT:
            # A one-shot job has nothing to probe; the API waits for its exit code instead.
            assert check.get("disable") is True, name
            assert service["restart"] == "no", name
            continue
        assert not check.get("disable"), name
        test = check["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), name
        assert check.get("interval") and check.get("retries"), name


def test_healthchecks_probe_the_right_thing(services):
    assert "/healthz" in " ".join(services["api"]["healthcheck"]["test"])
    assert "9595" in " ".join(services["api"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]
    assert "/readyz" in " ".join(services["qdrant"]["healthcheck"]["test"])


def test_api_waits_for_healthy_dependencies_and_migrations(services):
    assert services["api"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "qdrant": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_migrate_is_a_one_shot(services):
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert "ports" not in migrate


def test_reindex_is_on_demand(services):
    reindex = services["reindex"]
    assert reindex["command"] == ["python", "manage.py", "reindex", "--dirty"]
    assert reindex["profiles"] == ["tools"]  # not started by a plain `docker compose up`


def test_api_command_is_gunicorn_with_uvicorn_workers(services):
    command = " ".join(services["api"]["command"])
    assert "gunicorn soma_project.asgi:application" in command
    assert "-k uvicorn.workers.UvicornWorker" in command
    assert "SOMA_WORKERS" in command
    assert "--reload" in command  # live reload with the bind mount


# --- code, volumes and configuration ------------------------------------------------------


def test_bind_mount_for_live_reload(services):
    for name in ("api", "migrate"):
        assert "./:/app:delegated" in services[name]["volumes"], name


def test_bind_mount_does_not_hide_the_virtualenv():
    """The image installs its packages outside /app, which the bind mount replaces."""
    dockerfile = (REPO / "Dockerfile").read_text()
    venv = re.search(r"python -m venv (\S+)", dockerfile)
    assert venv and not venv.group(1).startswith("/app"), "the virtualenv must live outside /app"
    assert f"PATH={venv.group(1)}/bin:" in dockerfile


def test_data_survives_in_named_volumes(compose, services):
    volumes = compose["volumes"]
    mounts = {
        "postgres": "/var/lib/postgresql",  # PostgreSQL 18+ images: PGDATA below this folder
        "redis": "/data",
        "qdrant": "/qdrant/storage",
    }
    for name, target in mounts.items():
        named = [v.split(":")[0] for v in services[name]["volumes"] if v.split(":")[1] == target]
        assert named and named[0] in volumes, name


def test_settings_come_from_dot_env(services):
    for name in ("api", "migrate", "reindex"):
        assert services[name]["env_file"] in (".env", [".env"]), name
        env = services[name]["environment"]
        assert env["SOMA_BIND"] == "0.0.0.0:9595"
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["QDRANT_URL"] == "http://qdrant:6333"
        assert env["PROMETHEUS_MULTIPROC_DIR"]
        # No proxy in front of the published port: X-Forwarded-For is not believed unless .env says so.
        assert env["SOMA_NUM_PROXIES"] == "${SOMA_NUM_PROXIES:-0}"
        assert env["SOMA_TRUSTED_PROXIES"] == "${SOMA_TRUSTED_PROXIES:-}"
    # The database password comes from .env, never written in the compose file.
    assert "${POSTGRES_PASSWORD" in services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert "${POSTGRES_PASSWORD" in services["api"]["environment"]["DATABASE_URL"]


def test_interpolated_variables_are_in_the_env_template():
    template = ENV_TEMPLATE.read_text()
    documented = set(re.findall(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", template, re.MULTILINE))
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    assert used, "docker-compose.yml interpolates nothing?"
    assert used <= documented, f"missing from .env.template: {sorted(used - documented)}"
