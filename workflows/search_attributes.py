"""Typed search attributes every sale upserts, so operators can filter in the Web UI."""

from typing import Any

from temporalio.common import SearchAttributeKey

SALE_STATE = SearchAttributeKey.for_keyword("SaleState")
REQUEST_ID = SearchAttributeKey.for_keyword("RequestId")
SLOT_INDEX = SearchAttributeKey.for_int("SlotIndex")
SLOT_ID = SearchAttributeKey.for_keyword("SlotId")
AVAILABILITY_ID = SearchAttributeKey.for_keyword("AvailabilityId")

ALL_SEARCH_ATTRIBUTES: list[SearchAttributeKey[Any]] = [
    SALE_STATE,
    REQUEST_ID,
    SLOT_INDEX,
    SLOT_ID,
    AVAILABILITY_ID,
]
