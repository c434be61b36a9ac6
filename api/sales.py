"""What the API knows about sales, read from Temporal: visibility and the sales' own queries.

There is no second copy of any state: the list comes from visibility
(`sales.api.SALES_VISIBILITY_QUERY`), each sale's details from its workflow's `sale` query
(`workflows.sale_state.SaleData`), and a sale whose query cannot be answered (no worker, say)
still shows its state from the `SaleState` search attribute.
"""

import asyncio
import logging
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from sales.api import SALES_VISIBILITY_QUERY, AvailabilitySaved, queue_workflow_id, sale_workflow_id
from sales.models import Reservation, StorageRequest

log = logging.getLogger("api.sales")

QUERY_TIMEOUT_SECONDS = 5.0


class SaleView(BaseModel):
    """One sale as the API shows it."""

    model_config = ConfigDict(frozen=True)

    slot_id: str
    request_id: str
    slot_index: int
    state: str | None
    """Our `StateName` value (the `SaleState` search attribute)."""
    running: bool
    request: StorageRequest | None = None
    reservation: Reservation | None = None


class SalesSource(Protocol):
    async def running(self) -> list[SaleView]:
        """Every sale whose workflow runs now."""
        ...

    async def find(self, slot_id: str) -> SaleView | None:
        """The sale of this slot (its current run, running or closed), None if there is none."""
        ...

    async def availability_saved(self, notice: AvailabilitySaved) -> None:
        """RES-23 after commit: tell the host's running queue to look at seen items again."""
        ...


class NoSales:
    """A source without Temporal (unit tests of the availability paths)."""

    async def running(self) -> list[SaleView]:
        return []

    async def find(self, slot_id: str) -> SaleView | None:
        return None

    async def availability_saved(self, notice: AvailabilitySaved) -> None:
        return None


class TemporalSales:
    """Sales read from a Temporal client with the project's pydantic data converter."""

    def __init__(self, client: object, host_address: str = "") -> None:
        self.client = client
        self.host_address = host_address

    async def running(self) -> list[SaleView]:
        from temporalio.client import Client

        assert isinstance(self.client, Client)
        query = f"{SALES_VISIBILITY_QUERY} AND ExecutionStatus = 'Running'"
        ids = [execution.id async for execution in self.client.list_workflows(query)]
        found = await asyncio.gather(*(self._view(workflow_id) for workflow_id in ids))
        return [view for view in found if view is not None]

    async def find(self, slot_id: str) -> SaleView | None:
        return await self._view(sale_workflow_id(slot_id))

    async def _view(self, workflow_id: str) -> SaleView | None:
        from datetime import timedelta

        from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
        from temporalio.service import RPCError, RPCStatusCode

        from workflows.sale_state import SaleData
        from workflows.search_attributes import REQUEST_ID, SALE_STATE, SLOT_ID, SLOT_INDEX

        assert isinstance(self.client, Client)
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        attributes = description.typed_search_attributes
        running = description.status == WorkflowExecutionStatus.RUNNING
        data: SaleData | None = None
        try:
            data = await handle.query(
                "sale",
                result_type=SaleData,
                rpc_timeout=timedelta(seconds=QUERY_TIMEOUT_SECONDS),
            )
        except (RPCError, WorkflowQueryFailedError) as error:
            log.info(
                "sale %s did not answer its query (%s); showing visibility only", workflow_id, error
            )
        if data is not None:
            return SaleView(
                slot_id=data.slot_id,
                request_id=data.request_id,
                slot_index=data.slot_index,
                state=attributes.get(SALE_STATE) or data.state.name.value,
                running=running,
                request=data.request,
                reservation=data.reservation,
            )
        request_id, slot_id = attributes.get(REQUEST_ID), attributes.get(SLOT_ID)
        if request_id is None or slot_id is None:
            return None
        return SaleView(
            slot_id=slot_id,
            request_id=request_id,
            slot_index=attributes.get(SLOT_INDEX) or 0,
            state=attributes.get(SALE_STATE),
            running=running,
        )

    async def availability_saved(self, notice: AvailabilitySaved) -> None:
        from temporalio.client import Client
        from temporalio.service import RPCError

        from sales.queue_api import QueueSignal

        assert isinstance(self.client, Client)
        if not self.host_address:
            return
        handle = self.client.get_workflow_handle(queue_workflow_id(self.host_address))
        try:
            await handle.signal(QueueSignal.AVAILABILITY_SAVED, notice)
        except RPCError:  # no queue running: nothing to tell
            return
