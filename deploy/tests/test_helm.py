"""Lint and render the Helm chart in helm/ with Helm's own library, then check the objects.

helm-python-sdk binds libhelm_c (Helm v4's Go SDK, built into the wheel): no helm binary,
no cluster and no network. Plain functions: no database is needed.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from django.conf import settings

# Pinned in requirements.txt, native library included: a wheel that cannot load it is a failure.
HELM_SDK_VERSION = helm.helm_sdk_version()

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm"
PRODUCTION_VALUES = Path(__file__).with_name("values-production.yaml")
RELEASE = "soma"
NAMESPACE = "memory"
FULLNAME = "soma-somafractalmemory"
API_PORT = 9595

# Never in a ConfigMap: these are secrets, or URLs that may carry a password.
SECRET_KEYS = {
    "DJANGO_SECRET_KEY",
    "SOMA_API_TOKEN",
    "DATABASE_URL",
    "QDRANT_API_KEY",
    "POSTGRES_PASSWORD",
}


# --- helpers ------------------------------------------------------------------------------


def render(values: dict[str, Any] | None = None, **opts: Any) -> list[dict[str, Any]]:
    """Render the chart offline and return every Kubernetes object it produced."""
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, **({"is_install": True} | opts))
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                assert "kind" in doc and "apiVersion" in doc, f"{path}: not a Kubernetes object"
                objects.append(doc)
    return objects


def notes(values: dict[str, Any] | None = None) -> str:
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return next(text for path, text in manifests.items() if path.endswith("NOTES.txt"))


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in of_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def api_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = one(objects, "Deployment", FULLNAME)
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "api")


def secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """env name -> (Secret name, key) for every env entry read from a Secret."""
    refs = {}
    for entry in container.get("env", []):
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            refs[entry["name"]] = (ref["name"], ref["key"])
    return refs


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


@pytest.fixture(scope="module")
def production_values() -> dict[str, Any]:
    return yaml.safe_load(PRODUCTION_VALUES.read_text())


@pytest.fixture(scope="module")
def default_objects() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="module")
def production_objects(production_values: dict[str, Any]) -> list[dict[str, Any]]:
    return render(production_values, is_install=False, is_upgrade=True)


@pytest.fixture(params=["default", "production"])
def objects(request, default_objects, production_objects) -> list[dict[str, Any]]:
    return default_objects if request.param == "default" else production_objects


# --- lint ---------------------------------------------------------------------------------


def test_chart_metadata():
    with helm.Chart.load(CHART) as chart:
        assert chart.name == "somafractalmemory"
        assert chart.metadata["apiVersion"] == "v2"
        assert chart.schema is not None, "values.schema.json is missing"
        # One version number: the chart's default image tag is the package's version.
        assert chart.metadata["appVersion"] == settings.SOMA_VERSION


@pytest.mark.parametrize("which", ["default", "production"])
def test_lint_passes_strict(which, production_values):
    values = production_values if which == "production" else None
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
    assert report["total_charts_linted"] == 1
    assert report["errors"] == [], report
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == [], problems


def test_lint_reports_a_schema_violation():
    report = helm.lint(CHART, {"replicaCount": "x"})
    text = " ".join(report["errors"] + [m["error"] for m in report["messages"]])
    assert "replicaCount" in text, report


# --- values.schema.json -----------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"replicaCount": "x"},
        {"api": {"port": 70000}},
        {"config": {"environment": "staging"}},
        {"config": {"extra": {"DATABASE_URL": "postgres://u:p@h/db"}}},
        {"config": {"extra": {"SOMA_NUM_PROXIES": "1"}}},
        {"config": {"numProxies": -1}},
        {"config": {"numProxies": "1"}},
        {"config": {"trustedProxies": "ingress-nginx"}},
        {"config": {"loginFailureLimit": 0}},
        {"config": {"loginLockoutBy": "username,user_agent"}},
        {"autoscaling": {"enabled": "yes"}},
        {"postgresql": {"persistence": {"enabled": True, "size": "lots"}}},
        {"externalQdrant": {"url": "qdrant:6333"}},
        {"replicaCont": 3},
    ],
)
def test_schema_rejects_bad_values(bad):
    with helm.Chart.load(CHART) as chart:
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema(bad)
        with pytest.raises(helm.HelmValuesError):
            chart.render(bad, name=RELEASE, namespace=NAMESPACE)


def test_schema_accepts_the_defaults_and_the_production_values(production_values):
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(None)
        chart.validate_schema(production_values)


def test_every_value_is_documented():
    """Every leaf of values.yaml has a comment above it or above one of its parents."""
    undocumented = []
    stack: list[tuple[int, bool]] = []  # (indent, documented) of the enclosing keys
    previous = ""
    key_line = re.compile(r"^(\s*)([A-Za-z_][\w-]*):(.*)$")
    for line in (CHART / "values.yaml").read_text().splitlines():
        match = key_line.match(line)
        if match:
            indent = len(match.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            documented = previous.lstrip().startswith("#") or any(d for _, d in stack)
            rest = match.group(3).strip()
            is_leaf = rest not in ("", "|", ">") and not rest.startswith("#")
            if is_leaf and not documented:
                undocumented.append(line.strip())
            stack.append((indent, documented))
        if line.strip():
            previous = line
    assert undocumented == [], f"values without a comment: {undocumented}"


# --- the API ------------------------------------------------------------------------------


def test_service_port_is_9595(objects):
    service = one(objects, "Service", FULLNAME)
    ports = service["spec"]["ports"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in ports] == [("http", API_PORT, "http")]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "api"
    assert all(p["port"] != 50053 for s in of_kind(objects, "Service") for p in s["spec"]["ports"])


def test_container_port_and_probes(objects):
    container = api_container(objects)
    assert container["ports"] == [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_api_command_is_gunicorn_with_uvicorn_workers(objects):
    command = " ".join(api_container(objects)["command"])
    assert "gunicorn soma_project.asgi:application" in command
    assert "-k uvicorn.workers.UvicornWorker" in command
    assert '-w "${SOMA_WORKERS:-2}"' in command
    assert f'-b "0.0.0.0:{API_PORT}"' in command
    assert "PROMETHEUS_MULTIPROC_DIR" in command  # cleared before the workers start


def test_api_runs_as_non_root_with_writable_scratch_dirs(objects):
    deployment = one(objects, "Deployment", FULLNAME)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = api_container(objects)
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    configmap = one(objects, "ConfigMap", f"{FULLNAME}-config")
    assert {"/tmp", configmap["data"]["PROMETHEUS_MULTIPROC_DIR"], configmap["data"]["SOMA_DATA_DIR"]} <= mounts


def test_env_comes_from_the_configmap_and_the_secret(objects):
    container = api_container(objects)
    configmap = one(objects, "ConfigMap", f"{FULLNAME}-config")
    assert {"configMapRef": {"name": configmap["metadata"]["name"]}} in container["envFrom"]
    refs = secret_refs(container)
    assert {"DJANGO_SECRET_KEY", "SOMA_API_TOKEN", "DATABASE_URL", "QDRANT_API_KEY"} <= set(refs)
    secret_names = {name for name, _ in refs.values()}
    assert len(secret_names) == 1
    for env_name, (_, key) in refs.items():
        assert key == env_name
    data = configmap["data"]
    assert data["SOMA_ENV"] == "production"
    assert data["SOMA_BIND"] == f"0.0.0.0:{API_PORT}"
    assert data["QDRANT_URL"].startswith("http")
    # ALLOWED_HOSTS lets kubelet probes and Prometheus (Host: <pod IP>) through.
    allowed = next(e["value"] for e in container["env"] if e["name"] == "ALLOWED_HOSTS")
    assert "$(POD_IP)" in allowed.split(",")
    assert FULLNAME in allowed.split(",")


def test_no_secret_in_any_configmap(objects):
    secrets = [decoded(s) for s in of_kind(objects, "Secret")]
    secret_values = {v for data in secrets for v in data.values() if len(v) >= 8}
    for configmap in of_kind(objects, "ConfigMap"):
        data = configmap.get("data") or {}
        assert not (SECRET_KEYS & set(data)), configmap["metadata"]["name"]
        assert not any(k.endswith(("_PASSWORD", "_SECRET", "_TOKEN", "_KEY")) for k in data)
        for key, value in data.items():
            assert not re.search(r"://[^/@\s]*:[^/@\s]*@", value), f"credentials in {key}"
            assert value not in secret_values, f"a secret value in ConfigMap key {key}"


def test_pods_roll_when_the_config_changes():
    before = one(render(), "Deployment", FULLNAME)["spec"]["template"]["metadata"]["annotations"]
    after = one(render({"config": {"logLevel": "DEBUG"}}), "Deployment", FULLNAME)
    assert before["checksum/config"] != after["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


# --- secrets ------------------------------------------------------------------------------


def test_default_secret_holds_every_secret(default_objects):
    secret = one(default_objects, "Secret", FULLNAME)
    data = decoded(secret)
    assert {"DJANGO_SECRET_KEY", "SOMA_API_TOKEN", "DATABASE_URL", "POSTGRES_PASSWORD"} <= set(data)
    assert len(data["DJANGO_SECRET_KEY"]) >= 50
    assert len(data["SOMA_API_TOKEN"]) >= 32
    password = data["POSTGRES_PASSWORD"]
    assert data["DATABASE_URL"] == f"postgres://soma:{password}@{FULLNAME}-postgresql:5432/soma"
    assert "QDRANT_API_KEY" not in data  # none given: the env entry is optional
    refs = secret_refs(api_container(default_objects))
    assert {name for name, _ in refs.values()} == {FULLNAME}


def test_given_secret_values_are_used():
    objects = render(
        {
            "secrets": {"djangoSecretKey": "k" * 60, "apiToken": "t" * 40, "qdrantApiKey": "q" * 20},
            "postgresql": {"auth": {"password": "pw-123"}},
        }
    )
    data = decoded(one(objects, "Secret", FULLNAME))
    assert data["DJANGO_SECRET_KEY"] == "k" * 60
    assert data["SOMA_API_TOKEN"] == "t" * 40
    assert data["QDRANT_API_KEY"] == "q" * 20
    assert data["DATABASE_URL"].startswith("postgres://soma:pw-123@")


def test_existing_secret_replaces_the_chart_secret(production_objects, production_values):
    existing = production_values["secrets"]["existingSecret"]
    assert of_kind(production_objects, "Secret") == []
    for kind in ("Deployment", "Job", "StatefulSet"):
        for obj in of_kind(production_objects, kind):
            for container in obj["spec"]["template"]["spec"]["containers"]:
                assert {name for name, _ in secret_refs(container).values()} <= {existing}
    cronjobs = of_kind(production_objects, "CronJob")
    assert len(cronjobs) == 3  # reindex, prune_history, prune-expired
    for cronjob in cronjobs:
        container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        assert {name for name, _ in secret_refs(container).values()} == {existing}


def test_external_redis_url_goes_to_the_secret():
    objects = render({"redis": {"enabled": False}, "externalRedis": {"url": "redis://:pw@cache:6379/0"}})
    assert "REDIS_URL" not in one(objects, "ConfigMap")["data"]
    assert decoded(one(objects, "Secret"))["REDIS_URL"] == "redis://:pw@cache:6379/0"
    assert secret_refs(api_container(objects))["REDIS_URL"] == (FULLNAME, "REDIS_URL")
    assert not [s for s in of_kind(objects, "StatefulSet") if s["metadata"]["name"].endswith("-redis")]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"postgresql": {"enabled": False}}, "externalDatabase.url"),
        ({"redis": {"enabled": False}}, "externalRedis.url"),
        ({"qdrant": {"enabled": False}}, "externalQdrant.url"),
    ],
)
def test_disabled_store_without_an_external_url_fails(values, message):
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(values)


# --- migrations and reindex ---------------------------------------------------------------


def test_migration_job_is_a_hook(default_objects, production_objects):
    for objects, events in (
        # A first install must create the bundled database (and the Secret) first.
        (default_objects, "post-install,pre-upgrade"),
        # External database + existing Secret: migrate before anything is replaced.
        (production_objects, "pre-install,pre-upgrade"),
    ):
        job = one(objects, "Job", f"{FULLNAME}-migrate")
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == events
        assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
        assert "helm.sh/hook-weight" in annotations
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        container = pod["containers"][0]
        assert container["command"] == ["python", "manage.py", "migrate", "--noinput"]
        # Settings inlined: a pre-install hook cannot read the release's ConfigMap yet.
        assert "envFrom" not in container or all("configMapRef" not in e for e in container["envFrom"])
        env = {e["name"] for e in container["env"]}
        assert {"SOMA_ENV", "QDRANT_URL", "DATABASE_URL", "DJANGO_SECRET_KEY"} <= env


def test_pre_install_hook_does_not_use_the_chart_service_account(production_objects):
    pod = one(production_objects, "Job")["spec"]["template"]["spec"]
    assert "serviceAccountName" not in pod


def test_hook_events_can_be_overridden():
    job = one(render({"migrations": {"hookEvents": "pre-upgrade"}}), "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
    assert of_kind(render({"migrations": {"enabled": False}}), "Job") == []


def test_reindex_cronjob(objects):
    cronjob = one(objects, "CronJob", f"{FULLNAME}-reindex")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "manage.py", "reindex", "--dirty"]
    assert len(cronjob["spec"]["schedule"].split()) == 5


def test_prune_expired_cronjob(objects):
    cronjob = one(objects, "CronJob", f"{FULLNAME}-prune-expired")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "manage.py", "prune_expired"]
    assert len(cronjob["spec"]["schedule"].split()) == 5
    without = render({"pruneExpired": {"enabled": False}})
    assert sorted(c["metadata"]["name"] for c in of_kind(without, "CronJob")) == [
        f"{FULLNAME}-prune-history",
        f"{FULLNAME}-reindex",
    ]


# --- backing services ---------------------------------------------------------------------


def statefulsets(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    prefix = f"{FULLNAME}-"
    return {s["metadata"]["name"].removeprefix(prefix): s for s in of_kind(objects, "StatefulSet")}


def test_default_statefulsets_without_persistence(default_objects):
    sets = statefulsets(default_objects)
    assert set(sets) == {"postgresql", "redis", "qdrant"}
    ports = {"postgresql": 5432, "redis": 6379, "qdrant": 6333}
    for name, sts in sets.items():
        assert "volumeClaimTemplates" not in sts["spec"]
        volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
        assert "emptyDir" in volumes["data"]
        service = one(default_objects, "Service", sts["spec"]["serviceName"])
        assert ports[name] in [p["port"] for p in service["spec"]["ports"]]
    configmap = one(default_objects, "ConfigMap")["data"]
    assert configmap["REDIS_URL"] == f"redis://{FULLNAME}-redis:6379/0"
    assert configmap["QDRANT_URL"] == f"http://{FULLNAME}-qdrant:6333"
    qdrant = sets["qdrant"]["spec"]["template"]["spec"]["containers"][0]
    assert qdrant["image"].startswith("qdrant/qdrant:")
    assert qdrant["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_production_statefulsets_with_persistence(production_objects):
    sets = statefulsets(production_objects)
    assert set(sets) == {"redis", "qdrant"}  # PostgreSQL is external
    assert not [s for s in of_kind(production_objects, "Service") if s["metadata"]["name"].endswith("-postgresql")]
    for name, size in (("redis", "5Gi"), ("qdrant", "50Gi")):
        spec = sets[name]["spec"]
        (claim,) = spec["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "data"
        assert claim["spec"]["storageClassName"] == "fast-ssd"
        assert claim["spec"]["resources"]["requests"]["storage"] == size
        volumes = {v["name"] for v in spec["template"]["spec"].get("volumes", [])}
        assert "data" not in volumes  # the claim, not an emptyDir
        mounts = {m["name"] for m in spec["template"]["spec"]["containers"][0]["volumeMounts"]}
        assert "data" in mounts


def test_postgresql_persistence_and_password_from_the_secret():
    objects = render({"postgresql": {"persistence": {"enabled": True, "size": "20Gi"}}})
    sts = statefulsets(objects)["postgresql"]
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert secret_refs(container)["POSTGRES_PASSWORD"] == (FULLNAME, "POSTGRES_PASSWORD")
    assert {"mountPath": "/var/lib/postgresql", "name": "data"} in container["volumeMounts"]


# --- scaling and monitoring ---------------------------------------------------------------


def test_hpa_and_pdb(default_objects, production_objects):
    assert of_kind(default_objects, "HorizontalPodAutoscaler") == []
    assert one(default_objects, "Deployment")["spec"]["replicas"] == 2
    hpa = one(production_objects, "HorizontalPodAutoscaler", FULLNAME)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": FULLNAME}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    assert "replicas" not in one(production_objects, "Deployment")["spec"]  # the HPA owns it
    for objects, minimum in ((default_objects, 1), (production_objects, 2)):
        pdb = one(objects, "PodDisruptionBudget", FULLNAME)
        assert pdb["spec"]["minAvailable"] == minimum
        assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    assert of_kind(render({"replicaCount": 1}), "PodDisruptionBudget") == []


def test_service_monitor_behind_its_flag(default_objects, production_objects):
    assert of_kind(default_objects, "ServiceMonitor") == []
    monitor = one(production_objects, "ServiceMonitor", FULLNAME)
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    service = one(production_objects, "Service", FULLNAME)
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()


def test_ingress_hosts_are_allowed(production_objects):
    ingress = one(production_objects, "Ingress", FULLNAME)
    assert ingress["spec"]["rules"][0]["host"] == "memory.example.com"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": FULLNAME, "port": {"name": "http"}}
    allowed = next(e["value"] for e in api_container(production_objects)["env"] if e["name"] == "ALLOWED_HOSTS")
    assert {"memory.example.com", "memory.internal.example.com"} <= set(allowed.split(","))


@pytest.mark.parametrize(
    ("values", "proxies"),
    [
        ({}, "0"),  # no ingress: nothing in front appends to X-Forwarded-For
        ({"ingress": {"enabled": True, "hosts": [{"host": "m.example.com", "paths": [{"path": "/"}]}]}}, "1"),
        ({"ingress": {"enabled": True}, "config": {"numProxies": 0}}, "0"),
        ({"config": {"numProxies": 2}}, "2"),
    ],
)
def test_the_client_address_setting_follows_the_ingress(values, proxies):
    data = one(render(values), "ConfigMap", f"{FULLNAME}-config")["data"]
    assert data["SOMA_NUM_PROXIES"] == proxies
    # X-Forwarded-For believed only from the private ranges pod networks use
    assert data["SOMA_TRUSTED_PROXIES"] == "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7"


def test_login_lockout_settings_reach_the_configmap(default_objects, production_objects):
    data = one(default_objects, "ConfigMap", f"{FULLNAME}-config")["data"]
    assert (data["SOMA_LOGIN_FAILURE_LIMIT"], data["SOMA_LOGIN_LOCKOUT_SECONDS"], data["SOMA_LOGIN_LOCKOUT_BY"]) == (
        "5",
        "900",
        "username,ip_address",
    )
    production = one(production_objects, "ConfigMap", f"{FULLNAME}-config")["data"]
    assert (production["SOMA_NUM_PROXIES"], production["SOMA_TRUSTED_PROXIES"]) == ("2", "10.0.0.0/8")
    chosen = render(
        {"config": {"loginFailureLimit": 8, "loginLockoutSeconds": 60, "loginLockoutBy": "username+ip_address"}}
    )
    data = one(chosen, "ConfigMap", f"{FULLNAME}-config")["data"]
    assert (data["SOMA_LOGIN_FAILURE_LIMIT"], data["SOMA_LOGIN_LOCKOUT_SECONDS"], data["SOMA_LOGIN_LOCKOUT_BY"]) == (
        "8",
        "60",
        "username+ip_address",
    )


def test_notes_explain_how_to_reach_the_api():
    text = notes()
    assert f"svc/{FULLNAME} 9595:9595" in text
    assert "SOMA_API_TOKEN" in text


def test_prune_history_cronjob(objects):
    cronjob = one(objects, "CronJob", f"{FULLNAME}-prune-history")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "manage.py", "prune_history"]
    assert len(cronjob["spec"]["schedule"].split()) == 5
    names = [c["metadata"]["name"] for c in of_kind(render({"pruneHistory": {"enabled": False}}), "CronJob")]
    assert sorted(names) == [f"{FULLNAME}-prune-expired", f"{FULLNAME}-reindex"]
