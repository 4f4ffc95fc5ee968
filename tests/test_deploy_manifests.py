"""The rendered deployment manifests keep their essentials (Kustomize overlays, Helm chart).

Rendered with the pinned kubectl and helm (tests/support/deploy_tools.py, shared with
scripts/deploy-checks, which also validates them against the Kubernetes schemas).
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from auth_service.settings import MIN_SECRET_LENGTH, WELL_KNOWN_SECRETS, ConfigError, Settings
from tests.support.deploy_tools import ROOT, helm_template, kustomize, tool

Manifest = dict[str, Any]
SECRET_NAMES = ("BETTER_AUTH_SECRET", "API_GATEWAY_SECRET", "INTERNAL_SERVICE_SECRET")


def by_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[Manifest], kind: str, component: str | None = None) -> Manifest:
    found = [
        doc
        for doc in by_kind(docs, kind)
        if component is None
        or doc["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected one {kind} ({component}), got {len(found)}"
    return found[0]


def server(docs: list[Manifest]) -> Manifest:
    return one(docs, "Deployment", "server")


def app_container(deployment: Manifest) -> Manifest:
    (container,) = [
        c
        for c in deployment["spec"]["template"]["spec"]["containers"]
        if c["name"] == "auth-service"
    ]
    return container


def container_setting(docs: list[Manifest], container: Manifest, name: str) -> str | None:
    """A setting as the container sees it: its own `env`, else a ConfigMap it loads whole."""
    for entry in container.get("env", []):
        if entry["name"] == name:
            return str(entry["value"])
    config_maps = {doc["metadata"]["name"]: doc for doc in by_kind(docs, "ConfigMap")}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref and name in config_maps[ref["name"]].get("data", {}):
            return str(config_maps[ref["name"]]["data"][name])
    return None


def assert_refused_in_production(name: str, value: str) -> None:
    assert len(value) < MIN_SECRET_LENGTH or value in WELL_KNOWN_SECRETS, (name, value)
    # The service's own start-up check, as `ENVIRONMENT=production auth-service serve` runs it.
    env = {"ENVIRONMENT": "production", "BETTER_AUTH_SECRET": "x" * 48, name: value}
    settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match=name):
        settings.check_safe_to_start()


def assert_server_essentials(docs: list[Manifest]) -> None:
    deployment = server(docs)
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = app_container(deployment)

    assert container["livenessProbe"]["httpGet"]["path"] == "/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/live"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    assert {"name": "http", "containerPort": 3000, "protocol": "TCP"} in container["ports"]

    command = container.get("command", []) + container.get("args", [])
    assert command[:2] == ["auth-service", "serve"]
    assert "--migrate" not in command
    assert "migrate" not in command
    for init in pod.get("initContainers", []):
        script = " ".join(init.get("command", []) + init.get("args", []))
        assert "db migrate" not in script, "replicas must never migrate"

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]

    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    # On SIGTERM /ready answers 503 for SHUTDOWN_DRAIN_SECONDS, as the service parses it.
    drain = container_setting(docs, container, "SHUTDOWN_DRAIN_SECONDS")
    assert drain is not None, "SHUTDOWN_DRAIN_SECONDS is not set"
    env = {"SHUTDOWN_DRAIN_SECONDS": drain}
    drain_seconds = Settings(_env_file=None, **env).shutdown_drain_seconds  # type: ignore[call-arg]
    assert drain_seconds > 0
    # preStop sleep + the drain + uvicorn's 20 s graceful shutdown fit in the grace period.
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + drain_seconds + 20


def assert_migration_job(docs: list[Manifest]) -> Manifest:
    job = one(docs, "Job", "migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["auth-service", "db", "migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["image"] == app_container(server(docs))["image"]
    return job


def secret_values(docs: list[Manifest], name_suffix: str) -> dict[str, str]:
    (secret,) = [d for d in by_kind(docs, "Secret") if d["metadata"]["name"].endswith(name_suffix)]
    values: dict[str, str] = secret["stringData"]
    return values


def assert_placeholder_secrets(docs: list[Manifest]) -> None:
    values = secret_values(docs, "-secrets")
    assert set(values) == set(SECRET_NAMES)
    for name in SECRET_NAMES:
        assert_refused_in_production(name, values[name])


def assert_dev_postgres(docs: list[Manifest]) -> None:
    statefulset = one(docs, "StatefulSet")
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    (pg,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert pg["image"] == "postgres:16"
    mounts = {m["name"] for m in pg["volumeMounts"]}
    assert claim["metadata"]["name"] in mounts
    service = [d for d in by_kind(docs, "Service") if d["spec"].get("ports")[0]["port"] == 5432]
    assert len(service) == 1
    url = secret_values(docs, "-database")["DATABASE_URL"]
    assert f"@{service[0]['metadata']['name']}:5432/" in url


def assert_prod_extras(docs: list[Manifest]) -> None:
    assert not by_kind(docs, "StatefulSet"), "prod uses an external PostgreSQL"
    assert "postgres:16" not in str(docs)
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] >= 3
    assert hpa["spec"]["scaleTargetRef"]["name"] == server(docs)["metadata"]["name"]
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] >= 2
    policy = one(docs, "NetworkPolicy")
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    spread = server(docs)["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} >= {"kubernetes.io/hostname"}


@pytest.fixture(scope="module")
def kustomize_dev() -> list[Manifest]:
    return kustomize("dev")


@pytest.fixture(scope="module")
def kustomize_prod() -> list[Manifest]:
    return kustomize("prod")


@pytest.fixture(scope="module")
def helm_dev() -> list[Manifest]:
    return helm_template()


@pytest.fixture(scope="module")
def helm_prod() -> list[Manifest]:
    return helm_template("values-prod.yaml")


def test_kustomize_dev(kustomize_dev: list[Manifest]) -> None:
    assert server(kustomize_dev)["spec"]["replicas"] == 1
    assert_server_essentials(kustomize_dev)
    assert_migration_job(kustomize_dev)
    assert_placeholder_secrets(kustomize_dev)
    assert_dev_postgres(kustomize_dev)
    assert not by_kind(kustomize_dev, "HorizontalPodAutoscaler")


def test_kustomize_prod(kustomize_prod: list[Manifest]) -> None:
    assert server(kustomize_prod)["spec"]["replicas"] == 3
    assert_server_essentials(kustomize_prod)
    assert_migration_job(kustomize_prod)
    assert_placeholder_secrets(kustomize_prod)
    assert_prod_extras(kustomize_prod)
    config = one(kustomize_prod, "ConfigMap")["data"]
    assert config["ENVIRONMENT"] == "production"
    assert "DATABASE_URL" not in config
    for name in SECRET_NAMES:
        assert name not in config
    assert "REPLACE_ME" in secret_values(kustomize_prod, "-database")["DATABASE_URL"]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_kustomize_migration_job_is_named_after_the_release(
    overlay: str, kustomize_dev: list[Manifest], kustomize_prod: list[Manifest]
) -> None:
    docs = kustomize_dev if overlay == "dev" else kustomize_prod
    tag = app_container(server(docs))["image"].rsplit(":", 1)[1]
    assert assert_migration_job(docs)["metadata"]["name"] == f"auth-service-migrate-{tag}"


def test_helm_default_values(helm_dev: list[Manifest]) -> None:
    assert server(helm_dev)["spec"]["replicas"] == 1
    assert_server_essentials(helm_dev)
    assert_placeholder_secrets(helm_dev)
    assert_dev_postgres(helm_dev)
    job = assert_migration_job(helm_dev)
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    # The bundled database only exists once the release is installed.
    assert hooks == ["post-install", "pre-upgrade"]
    assert "before-hook-creation" in job["metadata"]["annotations"]["helm.sh/hook-delete-policy"]


def test_helm_prod_values(helm_prod: list[Manifest]) -> None:
    deployment = server(helm_prod)
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    hpa = one(helm_prod, "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] == 3
    assert_server_essentials(helm_prod)
    assert_prod_extras(helm_prod)
    assert not by_kind(helm_prod, "Secret"), "prod reads existing Secrets, never chart values"
    job = assert_migration_job(helm_prod)
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert hooks == ["pre-install", "pre-upgrade"]
    env = {e["name"]: e for e in app_container(deployment)["env"]}
    assert env["ENVIRONMENT"]["value"] == "production"
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "auth-service-database"
    for name in SECRET_NAMES:
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "auth-service-secrets"


@pytest.mark.parametrize(
    ("setting", "fits"),
    [
        ("config.SHUTDOWN_DRAIN_SECONDS=14", True),
        ("config.SHUTDOWN_DRAIN_SECONDS=15", False),
        ("preStopSleepSeconds=25", False),
        ("terminationGracePeriodSeconds=35", False),
    ],
)
def test_helm_refuses_a_shutdown_that_overruns_the_grace_period(setting: str, fits: bool) -> None:
    chart = ROOT / "helm" / "auth-service"
    result = subprocess.run(
        [tool("helm"), "template", "auth-service", str(chart), "--set", setting],
        capture_output=True,
        text=True,
        check=False,
    )
    if fits:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert "must be less than terminationGracePeriodSeconds" in result.stderr
