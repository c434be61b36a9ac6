"""Typed search attributes of the sale workflows (ARCHITECTURE §3: filter sales in the Web UI).

One registry list feeds every place that registers them: the dev server (`start_local`), the
time-skipping test server (operator service) and the deployment's CLI job.
"""

from temporalio.common import SearchAttributeKey

SALE_STATE = SearchAttributeKey.for_keyword("SaleState")
REQUEST_ID = SearchAttributeKey.for_keyword("RequestId")
SLOT_INDEX = SearchAttributeKey.for_int("SlotIndex")
SLOT_ID = SearchAttributeKey.for_keyword("SlotId")
AVAILABILITY_ID = SearchAttributeKey.for_keyword("AvailabilityId")

ALL_SEARCH_ATTRIBUTES: list[SearchAttributeKey[str] | SearchAttributeKey[int]] = [
    SALE_STATE,
    REQUEST_ID,
    SLOT_INDEX,
    SLOT_ID,
    AVAILABILITY_ID,
]
