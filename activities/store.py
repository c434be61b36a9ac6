"""Temporal activities for the data hooks: onStore, onExpiryUpdate, onClear (ST-DL, SALES-6).

Thin: the work is in store/. onStore heartbeats {offset, batch_seq} after every batch, so the
workflow must give it a heartbeat timeout; a retried attempt resumes from the local progress.
Business errors are non-retryable ApplicationErrors typed with sales.api.ErrorType.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import business_errors
from sales.api import (
    Activity,
    ErrorType,
    OnClearInput,
    OnExpiryUpdateInput,
    OnStoreInput,
    OnStoreResult,
)
from sales.ids import slot_id
from store.blockstore import BlockStore
from store.cid import CidError, cid_text
from store.config import StoreConfig
from store.download import (
    ByteReleaser,
    DownloadConfig,
    DownloadProgress,
    SlotDownloader,
    SlotRequest,
)
from store.errors import QuotaExceededError, SourceUnavailableError, StoreError


def slot_key(slot_id_hex: str) -> str:
    """The block store's directory name for a slot: its id without 0x."""
    return slot_id_hex.removeprefix("0x")


def _heartbeat(progress: DownloadProgress) -> None:
    activity.heartbeat({"offset": progress.offset, "batch_seq": progress.batch_seq})


class StoreActivities:
    def __init__(self, store: BlockStore, releaser: ByteReleaser, config: DownloadConfig) -> None:
        self.store, self.releaser, self.config = store, releaser, config
        # at-least-once delivery can run two attempts of one onStore at once in this worker:
        # the second waits and then finds the slot complete
        self._slot_locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_config(cls, config: StoreConfig, releaser: ByteReleaser) -> StoreActivities:
        """Worker wiring: `StoreActivities.from_config(StoreConfig.from_env(), ledger)`."""
        return cls(config.block_store(), releaser, config.download())

    @activity.defn(name=Activity.STORE_ON_STORE)
    async def on_store(self, inp: OnStoreInput) -> OnStoreResult:
        """ST-DL-5: download the slot, releasing reserved bytes per batch (RES-19)."""
        request = inp.request
        key = slot_key(slot_id(request.id, inp.slot_index))
        info = activity.info()
        if info.heartbeat_details:
            activity.logger.info(
                "onStore attempt %d resumes slot %s after %s",
                info.attempt,
                key,
                info.heartbeat_details[0],
            )
        if inp.is_repairing:
            activity.logger.info("onStore for a repair of slot %s", key)
        req = SlotRequest(
            slot_key=key,
            reservation_id=inp.reservation_id,
            cid=bytes.fromhex(request.content.cid.removeprefix("0x")),
            merkle_root=bytes.fromhex(request.content.merkle_root.removeprefix("0x")),
            slots=request.ask.slots,
            slot_size=request.ask.slot_size,
            slot_index=inp.slot_index,
            expiry=inp.expiry,
            is_repairing=inp.is_repairing,
        )
        lock = self._slot_locks.setdefault(key, asyncio.Lock())
        try:
            async with lock, business_errors():  # ledger errors from release: typed, final
                downloader = SlotDownloader(self.store, self.releaser, self.config)
                stored = await downloader.store_slot(req, heartbeat=_heartbeat)
        except QuotaExceededError as e:
            quota = ErrorType.QUOTA_NOT_ENOUGH
            raise ApplicationError(str(e), type=quota, non_retryable=True) from e
        except SourceUnavailableError as e:
            raise ApplicationError(str(e), type="SourceUnavailable") from e  # retryable
        except (StoreError, CidError) as e:
            raise ApplicationError(str(e), type=ErrorType.DATA_INVALID, non_retryable=True) from e
        return OnStoreResult(bytes_written=stored.slot_size, batches=stored.batches)

    @activity.defn(name=Activity.STORE_ON_EXPIRY_UPDATE)
    async def on_expiry_update(self, inp: OnExpiryUpdateInput) -> None:
        """Record the data's expiry on every stored slot of this dataset (idempotent)."""
        try:
            cid = cid_text(bytes.fromhex(inp.cid.removeprefix("0x")))
        except CidError as e:
            raise ApplicationError(str(e), type=ErrorType.DATA_INVALID, non_retryable=True) from e
        count = self.store.set_expiry_by_cid(cid, inp.expiry)
        activity.logger.info("expiry of %s set to %d on %d slot(s)", cid, inp.expiry, count)

    @activity.defn(name=Activity.STORE_ON_SALE)
    async def on_sale(self, inp: OnClearInput) -> None:
        """onSale: the slot is ours on chain; keep its data until onClear (nothing to undo)."""
        activity.logger.info("slot %d of %s sold", inp.slot_index, inp.request.id)

    @activity.defn(name=Activity.STORE_ON_CLEAR)
    async def on_clear(self, inp: OnClearInput) -> None:
        """Remove the slot's data; nothing stored is success (idempotent)."""
        removed = self.store.clear(slot_key(slot_id(inp.request.id, inp.slot_index)))
        activity.logger.info("slot %d of %s cleared: %s", inp.slot_index, inp.request.id, removed)
