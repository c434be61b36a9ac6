"""Worker versioning (deploy/k8s/README.md, "Upgrading workers"): a worker given a deployment
name and build id polls as that version, and every workflow it runs auto-upgrades, because a
sale lives for months and cannot stay pinned to the image it started on."""

import asyncio
import uuid

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import VersioningBehavior as WireBehavior
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.service import RPCError
from temporalio.worker import Worker

import worker
from deploy.settings import HostSettings
from sales.service_api import ReconcileInput, ReconcilePlan, ServiceActivity
from workflows import ALL_WORKFLOWS
from workflows.reconcile import ReconcileWorkflow


def test_an_unversioned_worker_gets_no_deployment_options() -> None:
    assert worker.versioning(HostSettings.from_env({})) == {}


def test_deployment_name_and_build_id_come_together() -> None:
    with pytest.raises(ValueError, match="together"):
        HostSettings.from_env({"SALES_DEPLOYMENT_NAME": "codex-sales"})


def test_no_workflow_type_is_pinned() -> None:
    for defn in ALL_WORKFLOWS:
        behavior = getattr(defn, "__temporal_workflow_definition").versioning_behavior
        assert behavior != VersioningBehavior.PINNED, defn


async def _make_current(client: Client, name: str, build_id: str) -> None:
    """The rollout's switch; the server accepts it once the version's workers have polled."""
    request = SetWorkerDeploymentCurrentVersionRequest(
        namespace=client.namespace, deployment_name=name, build_id=build_id
    )
    for _ in range(200):
        try:
            await client.workflow_service.set_worker_deployment_current_version(request)
            return
        except RPCError:
            await asyncio.sleep(0.1)  # the version is not registered yet: poll with a deadline
    raise AssertionError(f"version {name}.{build_id} never became current")


async def test_a_versioned_worker_runs_workflows_that_auto_upgrade(
    temporal_client: Client, task_queue: str
) -> None:
    name = f"codex-sales-{uuid.uuid4().hex[:8]}"
    settings = HostSettings.from_env({"SALES_DEPLOYMENT_NAME": name, "SALES_BUILD_ID": "v1"})

    @activity.defn(name=ServiceActivity.RECONCILE_PLAN)
    async def plan() -> ReconcilePlan:
        return ReconcilePlan(adopt=[])

    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[ReconcileWorkflow],
        activities=[plan],
        **worker.versioning(settings),
    ):
        await _make_current(temporal_client, name, "v1")
        handle = await temporal_client.start_workflow(
            ReconcileWorkflow.run,
            ReconcileInput(),
            id=f"reconcile-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        report = await handle.result()
        described = await handle.describe()
    info = described.raw_description.workflow_execution_info.versioning_info
    assert report.adopted == []
    assert info.behavior == WireBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
    assert (info.deployment_version.deployment_name, info.deployment_version.build_id) == (
        name,
        "v1",
    )
