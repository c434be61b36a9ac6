"""The Kubernetes manifests (deploy/k8s), checked without a cluster.

Each document is a valid object of the Kubernetes API (strict: a misspelt field fails), and each
worker Deployment gets what its role needs from the ConfigMap and the Secret, with secrets only
by reference, one signer for the nonce sequence, a drain shorter than the grace period, a shared
block store, and exactly the search attributes the workflows set.
"""

import re
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from eth_account import Account

import worker
from deploy.settings import ENVIRONMENT, ROLE_NEEDS, SECRET_SETTINGS, HostSettings
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"
OPTIONAL_SECRETS = {"api": {"SALES_API_TOKEN"}}
"""Secrets a role mounts that it can run without (the API's bearer token)."""
SECRETS = {ENVIRONMENT[field] for field in SECRET_SETTINGS} | {"SALES_API_TOKEN"}
TEST_KEY = "0x" + "11" * 32
OTHER_VARIABLES = {"SALES_LOG_LEVEL", "SALES_LOG_FORMAT"}


def documents() -> list[dict[str, Any]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def one(kind: str) -> dict[str, Any]:
    [doc] = [d for d in documents() if d["kind"] == kind]
    return doc


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == "Deployment"}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def roles(deployment: dict[str, Any]) -> list[str]:
    command = container(deployment)["command"]
    assert command[:2] == ["python", "worker.py"], "the worker is PID 1 (SIGTERM reaches it)"
    return worker.parse_roles(command[2:])


def environment(deployment: dict[str, Any]) -> dict[str, str]:
    """The variables the container sees, with the Secret template's placeholder values."""
    config, secret = one("ConfigMap"), one("Secret")
    env: dict[str, str] = {}
    for source in container(deployment).get("envFrom", []):
        assert source["configMapRef"]["name"] == config["metadata"]["name"]
        env.update(config["data"])
    for variable in container(deployment).get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            assert ref["name"] == secret["metadata"]["name"]
            env[variable["name"]] = secret["stringData"][ref["key"]]
    return env


@pytest.mark.parametrize(
    "document", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_every_manifest_is_a_valid_kubernetes_object(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_every_role_is_deployed_once_with_every_setting_it_needs() -> None:
    deployed: list[str] = []
    for name, deployment in deployments().items():
        env = environment(deployment)
        if "SALES_SIGNER_KEY" in env:  # the template's placeholders: a key and its address
            env["SALES_SIGNER_KEY"] = TEST_KEY
            env["SALES_HOST_ADDRESS"] = Account.from_key(TEST_KEY).address
        its_roles = roles(deployment)
        assert HostSettings.from_env(env).missing_for(its_roles) == [], name
        deployed += its_roles
    assert sorted(deployed) == sorted(ROLE_NEEDS)


def test_secrets_come_only_from_the_secret_and_only_where_needed() -> None:
    assert not SECRETS & set(one("ConfigMap")["data"])
    for name, deployment in deployments().items():
        for variable in container(deployment).get("env", []):
            if variable["name"] in SECRETS:
                assert "secretKeyRef" in variable["valueFrom"], (name, variable["name"])
        needed = {ENVIRONMENT[f] for role in roles(deployment) for f in ROLE_NEEDS[role]}
        needed |= {v for role in roles(deployment) for v in OPTIONAL_SECRETS.get(role, set())}
        mounted = {v["name"] for v in container(deployment).get("env", []) if "valueFrom" in v}
        assert mounted <= needed, f"{name} mounts secrets it does not need"


def test_each_secret_key_is_mounted_exactly_into_the_roles_that_need_it() -> None:
    """Issue 13, point 6 (least privilege): every key of the Secret reaches exactly the roles
    whose settings need it: the signer key only chain-tx, the DSN sales and the REST API, the
    RPC URL (an API key with most providers) sales and chain-tx, the API's token only the API,
    and the proving role no secret at all.
    Nothing takes the whole Secret (envFrom secretRef)."""
    secret_keys = set(one("Secret")["stringData"])
    assert secret_keys == SECRETS
    mounted_in: dict[str, set[str]] = {key: set() for key in secret_keys}
    for name, deployment in deployments().items():
        assert all("secretRef" not in source for source in container(deployment).get("envFrom", []))
        its_roles = roles(deployment)
        needed = {
            ENVIRONMENT[field]
            for role in its_roles
            for field in ROLE_NEEDS[role]
            if field in SECRET_SETTINGS
        } | {key for role in its_roles for key in OPTIONAL_SECRETS.get(role, set())}
        mounted = {
            v["valueFrom"]["secretKeyRef"]["key"]
            for v in container(deployment).get("env", [])
            if "valueFrom" in v
        }
        assert mounted == needed, name
        for key in mounted:
            mounted_in[key] |= set(its_roles)
    assert mounted_in == {
        "SALES_SIGNER_KEY": {"chain-tx"},
        "SALES_DATABASE_URL": {"sales", "api"},
        "SALES_RPC_URL": {"sales", "chain-tx"},
        "SALES_API_TOKEN": {"api"},
    }


def test_every_variable_set_is_one_the_worker_reads() -> None:
    known = set(ENVIRONMENT.values()) | OTHER_VARIABLES
    assert set(one("ConfigMap")["data"]) <= known
    assert set(one("Secret")["stringData"]) <= known
    for deployment in deployments().values():
        assert set(environment(deployment)) <= known


def test_one_signer_one_nonce_sequence() -> None:
    """Two chain-tx pods with one key would send competing transactions with the same nonces;
    Recreate keeps a rollout from overlapping the old pod and the new."""
    [chain_tx] = [d for d in deployments().values() if roles(d) == ["chain-tx"]]
    assert chain_tx["spec"]["replicas"] == 1
    assert chain_tx["spec"]["strategy"]["type"] == "Recreate"


def test_workers_drain_before_kubernetes_kills_them() -> None:
    for name, deployment in deployments().items():
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        drain = HostSettings.from_env(environment(deployment)).graceful_shutdown_seconds
        assert drain < grace, name


def test_the_block_store_is_one_shared_volume() -> None:
    claim = one("PersistentVolumeClaim")
    users = []
    for name, deployment in deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        for volume in pod.get("volumes", []):
            assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
            users.append(name)
    data_roles = {"sales", "proving"}  # onStore writes, proving reads
    assert set(users) >= {n for n, d in deployments().items() if data_roles & set(roles(d))}
    assert "ReadWriteMany" in claim["spec"]["accessModes"]


def test_the_job_registers_exactly_the_search_attributes_workflows_set() -> None:
    script = "\n".join(container(one("Job"))["args"])
    registered = set(re.findall(r"(\w+)=(Keyword|Int)\b", script))
    names = {"KEYWORD": "Keyword", "INT": "Int"}
    used = {(key.name, names[key.indexed_value_type.name]) for key in ALL_SEARCH_ATTRIBUTES}
    assert registered == used


def test_the_image_pins_the_snarkjs_the_lockfile_pins() -> None:
    """The proving role's snarkjs in the image is the version the tests prove with."""
    import json

    locked = json.loads((K8S.parents[1] / "package-lock.json").read_text())
    version = locked["packages"]["node_modules/snarkjs"]["version"]
    dockerfile = (K8S.parent / "Dockerfile").read_text()
    assert re.findall(r"snarkjs@([\d.]+)", dockerfile) == [version]
    for deployment in deployments().values():
        assert container(deployment)["image"].startswith("codex-sales-temporal:")


def test_workers_run_as_the_images_non_root_user() -> None:
    dockerfile = (K8S.parent / "Dockerfile").read_text()
    [user] = re.findall(r"^USER (\d+):(\d+)$", dockerfile, flags=re.MULTILINE)
    for name, deployment in deployments().items():
        pod = deployment["spec"]["template"]["spec"]["securityContext"]
        assert pod["runAsNonRoot"] and str(pod["runAsUser"]) == user[0], name
        assert str(pod["fsGroup"]) == user[1], name  # the shared store stays writable
