"""A stand-in SlotSale child for queue and routing tests.

It holds its worker until the test signals how it ends, and records every chain signal it gets
so routing tests can see what reached which sale.
"""

from collections.abc import Sequence

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from sales.api import SALE_RELEASED_SIGNAL, SLOT_SALE_WORKFLOW, SaleInput, SaleReleased


class FakeEnd(BaseModel):
    release: bool = True
    reprocess: bool = False


@workflow.defn(name=SLOT_SALE_WORKFLOW)
class FakeSale:
    def __init__(self) -> None:
        self._end: FakeEnd | None = None
        self._signals: list[str] = []

    @workflow.signal
    def end(self, end: FakeEnd) -> None:
        self._end = end

    @workflow.signal(dynamic=True)
    def chain_signal(self, name: str, args: Sequence[RawValue]) -> None:
        self._signals.append(name)

    @workflow.query
    def signals(self) -> list[str]:
        return list(self._signals)

    @workflow.run
    async def run(self, sale: SaleInput) -> str:
        await workflow.wait_condition(lambda: self._end is not None)
        assert self._end is not None and sale.queue_workflow_id is not None
        if self._end.release:
            parent = workflow.get_external_workflow_handle(sale.queue_workflow_id)
            released = SaleReleased(
                request_id=sale.request_id,
                slot_index=sale.slot_index,
                reprocess=self._end.reprocess,
                item=sale.item,
            )
            await parent.signal(SALE_RELEASED_SIGNAL, released)
        return "done"


@workflow.defn(name=SLOT_SALE_WORKFLOW)
class InstantReleaseSale:
    """Releases its worker on its first task (like a sale ignored at once), then lingers."""

    @workflow.run
    async def run(self, sale: SaleInput) -> None:
        assert sale.queue_workflow_id is not None
        released = SaleReleased(request_id=sale.request_id, slot_index=sale.slot_index)
        await workflow.get_external_workflow_handle(sale.queue_workflow_id).signal(
            SALE_RELEASED_SIGNAL, released
        )
        await workflow.wait_condition(lambda: False)
