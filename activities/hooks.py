"""The onSale hook (SALES-5 / ST-FILLED-2): called once this host's fill is confirmed.

The reference leaves onSale to the embedding node; here it records the sale in the worker log,
the point where an operator's own integration (billing, metrics) would plug in.
"""

from collections.abc import Callable

from temporalio import activity

from sales.api import Activity, OnClearInput


class HookActivities:
    @activity.defn(name=Activity.STORE_ON_SALE)
    async def on_sale(self, sale: OnClearInput) -> None:
        activity.logger.info(
            "slot sold", extra={"request_id": sale.request.id, "slot_index": sale.slot_index}
        )

    def all(self) -> list[Callable[..., object]]:
        return [self.on_sale]
