"""Marketplace activities: one class holding the `Market` client (ARCHITECTURE §3).

Reads run on the `sales` task queue; transactions on `chain-tx`. A transaction heartbeats the
hash it sent (`on_sent`) and keeps heartbeating it while waiting for the receipt; a retry passes
that hash back as `sent`, so the market looks up the receipt instead of sending twice.
"""

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import activity

from activities.errors import business_errors
from activities.metrics import Broadcasts, timed
from chain.market import Market, ProvingSnapshot
from sales.api import (
    Activity,
    FillSlotInput,
    MySlots,
    ProvingStatus,
    RequestLookup,
    RequestRef,
    SlotIdRef,
    SlotRef,
    SlotStatus,
    SubmitProofInput,
    TxOutcome,
)
from sales.metrics import PROOF_SUBMISSION
from sales.models import MarketplaceConfig
from sales.scheduling import (
    MARKET_HELD_SLOTS,
    MARKET_PROVING_SCHEDULE,
    HeldSlots,
    ScheduledSlotFacts,
    ScheduleRead,
    ScheduleReadInput,
    SlotWake,
    wake_for,
)

HELD_SLOTS_AT_ONCE = 32
"""`getActiveSlot` calls in flight at once while listing the host's slots."""

HEARTBEAT_EVERY = 5.0
"""Seconds between keep-alive heartbeats during a transaction (below the 30 s timeout)."""

Send = Callable[[str | None, Callable[[str], Awaitable[None]]], Awaitable[str | None]]


async def transact(send: Send) -> TxOutcome:
    """Run one idempotent transaction with the sent hash kept in heartbeat details."""
    details = activity.info().heartbeat_details
    last: str | None = str(details[0]) if details else None
    sent = last
    broadcasts = Broadcasts()

    def beat() -> None:
        if last is None:
            activity.heartbeat()
        else:
            activity.heartbeat(last)

    async def on_sent(tx_hash: str) -> None:
        nonlocal last
        last = tx_hash
        broadcasts.on_sent()
        beat()

    async def keep_alive() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            beat()

    ticker = asyncio.create_task(keep_alive())
    try:
        async with business_errors():
            tx_hash = await send(sent, on_sent)
    finally:
        ticker.cancel()
    return TxOutcome(tx_hash=tx_hash, already_done=tx_hash is None)


def _status_of(snap: ProvingSnapshot, config: MarketplaceConfig) -> ProvingStatus:
    """A slot's proving facts at one block, with the marketplace's period and downtime."""
    return ProvingStatus(
        slot_state=snap.slot_state,
        proof_required=snap.proof_required,
        proof_will_be_required=snap.proof_will_be_required,
        pointer=snap.pointer,
        challenge=snap.challenge,
        chain_time=snap.timestamp,
        period_seconds=config.proofs.period,
        downtime=config.proofs.downtime,
        block_number=snap.block_number,
        seconds_per_block=snap.seconds_per_block,
        request_state=snap.request_state,
        host=snap.host,
    )


class MarketActivities:
    def __init__(self, market: Market) -> None:
        self._market = market
        self._config: MarketplaceConfig | None = None

    async def _configuration(self) -> MarketplaceConfig:
        """The marketplace configuration is immutable: read it once per worker."""
        if self._config is None:
            self._config = await self._market.configuration()
        return self._config

    @activity.defn(name=Activity.MARKET_CONFIG)
    async def config(self) -> MarketplaceConfig:
        async with business_errors():
            return await self._configuration()

    @activity.defn(name=Activity.MARKET_GET_REQUEST)
    async def get_request(self, ref: RequestRef) -> RequestLookup:
        async with business_errors():
            return RequestLookup(request=await self._market.get_request(ref.request_id))

    @activity.defn(name=Activity.MARKET_SLOT_STATUS)
    async def slot_status(self, ref: SlotRef) -> SlotStatus:
        market, slot_id = self._market, ref.slot_id
        async with business_errors():
            return SlotStatus(
                slot_state=await market.slot_state(slot_id),
                request_state=await market.request_state(ref.request_id),
                request_end=await market.request_end(ref.request_id),
                request_expires_at=await market.request_expires_at(ref.request_id),
                host=await market.get_host(slot_id),
                signer=await market.get_signer(),
                current_collateral=await market.current_collateral(slot_id),
                chain_time=await market.current_time(),
            )

    @activity.defn(name=Activity.MARKET_CAN_RESERVE_SLOT)
    async def can_reserve_slot(self, ref: SlotRef) -> bool:
        async with business_errors():
            return await self._market.can_reserve_slot(ref.request_id, ref.slot_index)

    @activity.defn(name=Activity.MARKET_SLOT_COLLATERAL)
    async def slot_collateral(self, ref: SlotRef) -> int:
        async with business_errors():
            return await self._market.slot_collateral(ref.request_id, ref.slot_index)

    @activity.defn(name=Activity.MARKET_PROVING_STATUS)
    async def proving_status(self, ref: SlotRef) -> ProvingStatus:
        """One period's facts for a slot, all from one block (see ProvingStatus)."""
        async with business_errors():
            config = await self._configuration()
            snap = await self._market.proving_snapshot(ref.slot_id, ref.request_id)
            return _status_of(snap, config)

    @activity.defn(name=MARKET_PROVING_SCHEDULE)
    async def proving_schedule(self, read: ScheduleReadInput) -> ScheduleRead:
        """The proving scheduler's one read per period: every slot's facts at one block, and
        back only the slots to wake (`sales.scheduling.wake_for`), so the result stays small."""
        async with business_errors():
            config = await self._configuration()
            signer = await self._market.get_signer()
            pairs = [(ref.slot_id, ref.request_id) for ref in read.slots]
            batch = await self._market.proving_snapshots(pairs)
            wakes = []
            for ref, (sid, _) in zip(read.slots, pairs, strict=True):
                snap = batch.snapshots.get(sid)
                if snap is None:
                    continue  # unreadable this period: its workflow's fallback reads it
                facts = ScheduledSlotFacts(
                    slot_state=snap.slot_state,
                    request_state=snap.request_state,
                    host=snap.host,
                    proof_required=snap.proof_required,
                    proof_will_be_required=snap.proof_will_be_required,
                )
                reason = wake_for(facts, signer)
                if reason is None:
                    continue
                wakes.append(SlotWake(slot=ref, reason=reason, status=_status_of(snap, config)))
            return ScheduleRead(
                block_number=batch.block_number,
                chain_time=batch.timestamp,
                period_seconds=config.proofs.period,
                slots_read=len(pairs),
                wakes=wakes,
            )

    @activity.defn(name=Activity.MARKET_MY_SLOTS)
    async def my_slots(self) -> MySlots:
        """SALES-4: this host's slots that are still active."""
        async with business_errors():
            ids = await self._market.my_slots()
            active = [i for i in ids if await self._market.get_active_slot(i) is not None]
            return MySlots(slot_ids=active)

    @activity.defn(name=MARKET_HELD_SLOTS)
    async def held_slots(self) -> HeldSlots:
        """The slots a fresh proving scheduler watches: `mySlots`, each mapped by `getActiveSlot`
        to its request and index (a freed one is left out). A read only, so retries are safe."""
        async with business_errors():
            ids = await self._market.my_slots()
            found = []
            for start in range(0, len(ids), HELD_SLOTS_AT_ONCE):
                chunk = ids[start : start + HELD_SLOTS_AT_ONCE]
                found += await asyncio.gather(*(self._market.get_active_slot(i) for i in chunk))
            refs = [
                SlotRef(request_id=slot.request.id, slot_index=slot.slot_index)
                for slot in found
                if slot is not None
            ]
            return HeldSlots(slots=refs)

    @activity.defn(name=Activity.MARKET_RESERVE_SLOT)
    async def reserve_slot(self, ref: SlotRef) -> TxOutcome:
        return await transact(
            lambda sent, on_sent: self._market.reserve_slot(
                ref.request_id, ref.slot_index, sent=sent, on_sent=on_sent
            )
        )

    @activity.defn(name=Activity.MARKET_FILL_SLOT)
    async def fill_slot(self, fill: FillSlotInput) -> TxOutcome:
        slot = fill.slot
        return await transact(
            lambda sent, on_sent: self._market.fill_slot(
                slot.request_id,
                slot.slot_index,
                fill.proof,
                fill.collateral,
                sent=sent,
                on_sent=on_sent,
            )
        )

    @activity.defn(name=Activity.MARKET_SUBMIT_PROOF)
    async def submit_proof(self, submit: SubmitProofInput) -> TxOutcome:
        async with timed(PROOF_SUBMISSION):
            return await transact(
                lambda sent, on_sent: self._market.submit_proof(
                    submit.slot_id, submit.proof, sent=sent, on_sent=on_sent
                )
            )

    @activity.defn(name=Activity.MARKET_FREE_SLOT)
    async def free_slot(self, ref: SlotIdRef) -> TxOutcome:
        return await transact(
            lambda sent, on_sent: self._market.free_slot(ref.slot_id, sent=sent, on_sent=on_sent)
        )

    def reads(self) -> list[Callable[..., object]]:
        """Activities for the `sales` task queue."""
        return [
            self.config,
            self.get_request,
            self.slot_status,
            self.can_reserve_slot,
            self.slot_collateral,
            self.proving_status,
            self.my_slots,
            self.proving_schedule,
            self.held_slots,
        ]

    def transactions(self) -> list[Callable[..., object]]:
        """Activities for the `chain-tx` task queue (one signer, one nonce manager)."""
        return [self.reserve_slot, self.fill_slot, self.submit_proof, self.free_slot]
