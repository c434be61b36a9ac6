"""The queue's side of the sale, as a stand-in workflow that records what sales tell it.

Its own small module with passed-through imports, so the sandbox does not re-import the fakes.
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sales.api import SALE_RELEASED_SIGNAL, AvailabilitySaved, SaleReleased
    from workflows.sale_base import AVAILABILITY_SAVED_SIGNAL

FAKE_QUEUE_WORKFLOW = "FakeQueue"


@workflow.defn(name=FAKE_QUEUE_WORKFLOW)
class FakeQueueWorkflow:
    def __init__(self) -> None:
        self.released: list[SaleReleased] = []
        self.saved: list[AvailabilitySaved] = []

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name=SALE_RELEASED_SIGNAL)
    def on_released(self, notice: SaleReleased) -> None:
        self.released.append(notice)

    @workflow.signal(name=AVAILABILITY_SAVED_SIGNAL)
    def on_saved(self, notice: AvailabilitySaved) -> None:
        self.saved.append(notice)

    @workflow.query(name="released")
    def get_released(self) -> list[SaleReleased]:
        return self.released

    @workflow.query(name="saved")
    def get_saved(self) -> list[AvailabilitySaved]:
        return self.saved
