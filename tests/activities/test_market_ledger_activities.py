"""Activity classes: thin delegation, typed errors → non-retryable ApplicationError types,
transaction hashes kept in heartbeat details and passed back as `sent` on retry."""

import dataclasses
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.errors import to_application_error
from activities.ledger import LedgerActivities
from activities.market import MarketActivities
from chain.market import (
    MarketError,
    OnSent,
    ProofInvalidError,
    ProvingSnapshot,
    SlotReservationNotAllowedError,
    SlotStateMismatchError,
)
from ledger.api import BytesOutOfBoundsError, NotExistsError, SavedAvailability
from sales.api import (
    AvailabilitySaved,
    CloseReservationInput,
    ErrorType,
    FillSlotInput,
    SlotIdRef,
    SlotRef,
)
from sales.errors import ArithmeticRangeError
from sales.models import (
    CollateralConfig,
    Groth16Proof,
    MarketplaceConfig,
    ProofConfig,
    RequestState,
    SlotReservationsConfig,
    SlotState,
)
from tests.workflows.fakes import HOST, an_availability, make_request

REQUEST = make_request()
TX = "0x" + "ee" * 32
CONFIG = MarketplaceConfig(
    collateral=CollateralConfig(
        repair_reward_percentage=10,
        max_number_of_slashes=2,
        slash_percentage=20,
        validator_reward_percentage=20,
    ),
    proofs=ProofConfig(period=10, timeout=5, downtime=64, downtime_product=67),
    reservations=SlotReservationsConfig(max_reservations=3),
    request_duration_limit=10_000,
)


class FakeMarket:
    """Only what the activities call; `error` makes transactions raise."""

    def __init__(self) -> None:
        self.sent_seen: list[str | None] = []
        self.error: Exception | None = None
        self.config_reads = 0

    async def get_signer(self) -> str:
        return HOST

    async def configuration(self) -> MarketplaceConfig:
        self.config_reads += 1
        return CONFIG

    async def current_time(self) -> int:
        return 1_000

    async def slot_state(self, slot_id: str) -> SlotState:
        return SlotState.Filled

    async def request_state(self, request_id: str) -> RequestState | None:
        return RequestState.Started

    async def request_end(self, request_id: str) -> int:
        return 2_000

    async def request_expires_at(self, request_id: str) -> int:
        return 1_500

    async def get_host(self, slot_id: str) -> str | None:
        return HOST

    async def current_collateral(self, slot_id: str) -> int:
        return 42

    async def is_proof_required(self, slot_id: str) -> bool:
        return True

    async def will_proof_be_required(self, slot_id: str) -> bool:
        return False

    async def get_pointer(self, slot_id: str) -> int:
        return 7

    async def get_challenge(self, slot_id: str) -> str:
        return "0x" + "cc" * 32

    async def proving_snapshot(self, slot_id: str, request_id: str) -> ProvingSnapshot:
        return ProvingSnapshot(
            block_number=77,
            timestamp=1_000,
            seconds_per_block=2.0,
            slot_state=SlotState.Filled,
            request_state=RequestState.Started,
            host=HOST,
            pointer=7,
            challenge="0x" + "cc" * 32,
            proof_required=True,
            proof_will_be_required=False,
        )

    async def fill_slot(
        self,
        request_id: str,
        slot_index: int,
        proof: Groth16Proof,
        collateral: int,
        *,
        sent: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str | None:
        self.sent_seen.append(sent)
        if sent is not None:
            return None  # the receipt of the earlier send shows it landed
        assert on_sent is not None
        await on_sent(TX)
        if self.error is not None:
            raise self.error
        return TX

    async def free_slot(
        self, slot_id: str, *, sent: str | None = None, on_sent: OnSent | None = None
    ) -> str | None:
        if self.error is not None:
            raise self.error
        return TX


def market_activities(market: FakeMarket) -> MarketActivities:
    return MarketActivities(market)  # type: ignore[arg-type]


async def test_slot_status_reads_everything_in_one_activity() -> None:
    acts = market_activities(FakeMarket())
    status = await ActivityEnvironment().run(
        acts.slot_status, SlotRef(request_id=REQUEST.id, slot_index=1)
    )
    assert (status.slot_state, status.request_state) == (SlotState.Filled, RequestState.Started)
    assert (status.request_end, status.request_expires_at, status.chain_time) == (2000, 1500, 1000)
    assert status.host == status.signer == HOST
    assert status.current_collateral == 42


async def test_proving_status_batches_the_period_and_caches_the_config() -> None:
    market = FakeMarket()
    acts = market_activities(market)
    env = ActivityEnvironment()
    ref = SlotRef(request_id=REQUEST.id, slot_index=0)
    first = await env.run(acts.proving_status, ref)
    await env.run(acts.proving_status, ref)
    assert (first.period_seconds, first.downtime, first.pointer) == (10, 64, 7)
    assert first.proof_required and not first.proof_will_be_required
    assert (first.block_number, first.chain_time, first.seconds_per_block) == (77, 1000, 2.0)
    assert (first.slot_state, first.request_state, first.host) == (
        SlotState.Filled,
        RequestState.Started,
        HOST,
    ), "the chain's view of the slot comes from the same block as the challenge"
    assert market.config_reads == 1


async def test_transaction_heartbeats_its_hash_and_a_retry_passes_it_back() -> None:
    market = FakeMarket()
    acts = market_activities(market)
    fill = FillSlotInput(
        slot=SlotRef(request_id=REQUEST.id, slot_index=0), proof=Groth16Proof.zero(), collateral=1
    )
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    market.error = MarketError("connection reset after send")
    with pytest.raises(ApplicationError):
        await env.run(acts.fill_slot, fill)
    assert beats[-1] == (TX,)
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, heartbeat_details=[TX], attempt=2)
    outcome = await retry.run(acts.fill_slot, fill)
    assert market.sent_seen == [None, TX]
    assert outcome.already_done and outcome.tx_hash is None


@pytest.mark.parametrize(
    ("error", "error_type"),
    [
        (SlotStateMismatchError("freeSlot: slot is free"), ErrorType.SLOT_STATE_MISMATCH),
        (SlotReservationNotAllowedError("no"), ErrorType.SLOT_RESERVATION_NOT_ALLOWED),
        (ProofInvalidError("bad proof"), ErrorType.PROOF_INVALID),
        (MarketError("reverted"), ErrorType.MARKET),
        (BytesOutOfBoundsError("too big"), ErrorType.BYTES_OUT_OF_BOUNDS),
        (NotExistsError("gone"), ErrorType.NOT_EXISTS),
        (ArithmeticRangeError("overflow"), ErrorType.ARITHMETIC_RANGE),
    ],
)
async def test_typed_errors_become_non_retryable_application_errors(
    error: Exception, error_type: ErrorType
) -> None:
    market = FakeMarket()
    market.error = error
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(
            market_activities(market).free_slot, SlotIdRef(slot_id="0x" + "dd" * 32)
        )
    assert raised.value.type == error_type
    assert raised.value.non_retryable
    assert str(error) in str(raised.value)


async def test_unknown_errors_stay_retryable() -> None:
    assert to_application_error(ConnectionError("rpc down")) is None
    market = FakeMarket()
    market.error = ConnectionError("rpc down")
    with pytest.raises(ConnectionError):
        await ActivityEnvironment().run(
            market_activities(market).free_slot, SlotIdRef(slot_id="0x" + "dd" * 32)
        )


class FakeLedger:
    def __init__(self, saved: SavedAvailability | None) -> None:
        self.saved = saved
        self.closed: list[tuple[str, int | None]] = []

    async def close_reservation(
        self, reservation_id: str, returned_collateral: int | None = None
    ) -> SavedAvailability | None:
        self.closed.append((reservation_id, returned_collateral))
        return self.saved


@pytest.mark.parametrize("enabled", [True, False])
async def test_close_reservation_forwards_the_committed_notice(enabled: bool) -> None:
    availability = an_availability()
    notice = AvailabilitySaved(availability_id=availability.id, enabled=enabled)
    ledger = FakeLedger(SavedAvailability(availability=availability, notice=notice))
    acts = LedgerActivities(ledger)  # type: ignore[arg-type]
    close = CloseReservationInput(
        reservation_id="0x" + "aa" * 32, availability_id=availability.id, returned_collateral=300
    )
    result = await ActivityEnvironment().run(acts.close_reservation, close)
    assert result.availability_saved == notice
    assert ledger.closed == [("0x" + "aa" * 32, 300)]


async def test_close_of_a_gone_reservation_is_a_no_op() -> None:
    acts = LedgerActivities(FakeLedger(None))  # type: ignore[arg-type]
    close = CloseReservationInput(reservation_id="0x" + "aa" * 32, availability_id="0x" + "bb" * 32)
    result = await ActivityEnvironment().run(acts.close_reservation, close)
    assert result.availability_saved is None
