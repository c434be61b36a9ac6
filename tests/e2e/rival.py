"""Another storage host and a validator on the same marketplace, both played by the test.

The rival fills slots with real proofs of the development circuit and then never proves again
(a host gone for good) or walks away with freeSlot; the validator marks its missing proofs until
the contract frees the slot. Their slots are what this host's sales repair or lose.
"""

import asyncio
import contextlib
import time

from chain.client import OnChainClient
from chain.market import MarketError, ProofInvalidError
from proofs.commitment import commit_dataset, split_slots
from proofs.prover import ProverConfig, StorageProver
from sales.ids import slot_id
from sales.models import SlotState, StorageRequest
from tests.e2e.conftest import E2EStack
from tests.e2e.helpers import market_of

FILL_ATTEMPTS = 3
"""The challenge can move while a proof is made; a refused fill proves again, like our sales."""


class RivalHost:
    def __init__(self, e2e: E2EStack, private_key: str, request: StorageRequest, data: bytes):
        self.market: OnChainClient = market_of(e2e, private_key)
        self.request = request
        self.commitment = commit_dataset(data, request.ask.slots)
        if "0x" + self.commitment.merkle_root.hex() != request.content.merkle_root:
            raise ValueError("the data does not hash to the request's merkle root")
        self.slots = split_slots(data, request.ask.slots, self.commitment.slot_size)
        self.prover = StorageProver.from_config(ProverConfig())

    async def fill(self, slot_index: int) -> None:
        """Reserve, prove for the slot's current challenge, deposit the collateral and fill."""
        request_id = self.request.id
        sid = slot_id(request_id, slot_index)
        await self.market.reserve_slot(request_id, slot_index)
        collateral = await self.market.slot_collateral(request_id, slot_index)
        for _ in range(FILL_ATTEMPTS):
            challenge = await self.market.get_challenge(sid)
            proof = await self.prover.prove(
                self.slots[slot_index],
                slot_index,
                self.commitment.slot_roots,
                self.commitment.merkle_root,
                bytes.fromhex(challenge.removeprefix("0x")),
            )
            try:
                await self.market.fill_slot(request_id, slot_index, proof, collateral)
                return
            except ProofInvalidError:
                continue
        raise AssertionError(f"the rival could not fill slot {slot_index}")

    async def walk_away(self, slot_index: int) -> None:
        """freeSlot on a running request: the rival forfeits its collateral, the slot is freed."""
        await self.market.free_slot(slot_id(self.request.id, slot_index))

    async def close(self) -> None:
        await self.market.close()


async def slash_until_freed(e2e: E2EStack, slot_id_hex: str, within: float) -> int:
    """As the validator: mark each missed required proof of the slot until the chain frees it
    (maxNumberOfSlashes marks). Returns how many marks it took."""
    validator = market_of(e2e, e2e.roles.validator.private_key)
    period = e2e.deployment.config.proofs.period
    marked: set[int] = set()
    deadline = time.monotonic() + within
    try:
        while await validator.slot_state(slot_id_hex) == SlotState.Filled:
            if time.monotonic() > deadline:
                raise AssertionError(f"slot still filled after {within:.0f}s; marked {marked}")
            ended = (await validator.current_time()) // period - 1
            if ended not in marked and await validator.can_mark_proof_as_missing(
                slot_id_hex, ended
            ):
                # the pointer may step into the downtime before the mark is mined: try again
                with contextlib.suppress(MarketError):
                    await validator.mark_proof_as_missing(slot_id_hex, ended)
                    marked.add(ended)
            await asyncio.sleep(1)
    finally:
        await validator.close()
    return len(marked)
