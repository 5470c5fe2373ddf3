""".env.template lists every variable the settings read, each with a comment, and no other."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
VARIABLE_LINE = re.compile(r"^#?\s?([A-Z][A-Z0-9_]*)=")
# Read by scripts/serve.py (the server process) or by docker-compose.yml, not by settings.py.
PROCESS_VARIABLES = {"SOMA_BIND", "SOMA_WORKERS", "SOMA_WORKER_TIMEOUT", "PROMETHEUS_MULTIPROC_DIR"}
COMPOSE_VARIABLES = {"POSTGRES_PASSWORD"}


def settings_variables() -> set[str]:
    source = (BASE_DIR / "soma_project" / "settings.py").read_text()
    names = set(re.findall(r"\benv\.[a-z_]+\(\s*\"([A-Z][A-Z0-9_]*)\"", source))
    for secret in re.findall(r"\bread_secret\(env,\s*\"([A-Z][A-Z0-9_]*)\"", source):
        names |= {secret, f"{secret}_FILE"}
    return names


def process_variables() -> set[str]:
    source = (BASE_DIR / "scripts" / "serve.py").read_text()
    return set(re.findall(r"os\.environ(?:\.get|\.setdefault)?\(\s*\"([A-Z][A-Z0-9_]*)\"", source))


def template_lines() -> list[str]:
    return (BASE_DIR / ".env.template").read_text().splitlines()


def template_variables() -> list[str]:
    return [match.group(1) for line in template_lines() if (match := VARIABLE_LINE.match(line))]


def test_the_parsers_find_what_they_should():
    assert {"DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY_FILE", "DATABASE_URL", "SOMA_LOG_JSON"} <= settings_variables()
    assert {"SOMA_BIND", "SOMA_WORKERS", "PROMETHEUS_MULTIPROC_DIR"} <= process_variables()


def test_every_variable_the_settings_read_is_in_the_template():
    missing = settings_variables() - set(template_variables())

    assert not missing, f"add these to .env.template, with a comment: {sorted(missing)}"


def test_every_template_variable_is_read_somewhere():
    known = settings_variables() | process_variables() | COMPOSE_VARIABLES
    assert process_variables() <= PROCESS_VARIABLES | {
        "DJANGO_SETTINGS_MODULE",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
    }

    unknown = set(template_variables()) - known

    assert not unknown, f"nothing reads these .env.template variables: {sorted(unknown)}"


def test_each_variable_is_listed_once():
    names = template_variables()

    assert sorted(name for name in set(names) if names.count(name) > 1) == []


def test_each_variable_has_a_comment_above_it():
    lines = template_lines()
    uncommented = []
    for index, line in enumerate(lines):
        if VARIABLE_LINE.match(line):
            above = lines[index - 1] if index else ""
            if not above.startswith("# ") or VARIABLE_LINE.match(above):
                uncommented.append(line)

    assert uncommented == []


def test_secrets_have_no_value_in_the_template():
    values = dict(line.split("=", 1) for line in template_lines() if line and not line.startswith("#"))

    assert {name: values[name] for name in ("DJANGO_SECRET_KEY", "SOMA_API_TOKEN", "POSTGRES_PASSWORD")} == {
        "DJANGO_SECRET_KEY": "",
        "SOMA_API_TOKEN": "",
        "POSTGRES_PASSWORD": "",
    }
    assert set(values) == {"DJANGO_SECRET_KEY", "SOMA_API_TOKEN", "ALLOWED_HOSTS", "POSTGRES_PASSWORD"}


def test_the_operations_guide_documents_exactly_the_template_variables():
    guide = (BASE_DIR / "README.md").read_text()
    reference = guide.split("## Configuration reference", 1)[1]
    documented = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", reference, flags=re.MULTILINE)

    assert sorted(documented) == sorted(template_variables())
