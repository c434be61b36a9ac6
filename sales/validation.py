"""One validation gate for on-chain requests: every term against explicit bounds, as data.

Anyone can post a storage request, and an RPC provider can relay anything, so a request's terms
are checked here before any of them becomes a queue item (the router calls `check_new_request`
for StorageRequested and `check_ask` for a freed slot's request; the queue's update validator
calls `check_ask` again). Each rule names the bound it enforces and why; a refused request raises
`RequestRefusedError` (a typed `InvalidRequestError`) carrying the rule, and nothing else can
escape: the arithmetic is done on Python integers against explicit limits, never wrapped.

The limits (`RequestBounds`) are data a host may tighten, the rules (`RULES`) are data too: a
name, the reason, and the predicate that finds a violation.
"""

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from sales.errors import InvalidRequestError
from sales.models import StorageAsk
from sales.uint import INT64_MAX, UINT16_MAX, UINT64_MAX, UINT256_MAX

TEN_YEARS = 10 * 365 * 24 * 3600


class RequestBounds(BaseModel):
    """The limits a request's terms must stay within. Defaults suit any host; ``max_slot_size``
    is the host's store quota when the worker knows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_slots: int = Field(default=1, ge=1)
    """SQ-15: a request without slots has nothing to sell."""
    max_slots: int = Field(default=UINT16_MAX, ge=1, le=UINT16_MAX)
    """SQ-15 / Q-3: slot indices are 16-bit in the queue; more would truncate."""
    min_slot_size: int = Field(default=1, ge=1)
    """Codex accepts slotSize 0 (checked on a deployed marketplace), but a zero-byte slot stores
    nothing, carries no collateral and pays nothing: there is nothing to sell."""
    max_slot_size: int = Field(default=UINT64_MAX, ge=1, le=UINT64_MAX)
    """The host's store quota: a larger slot can never be reserved, so it must not take a place
    in the queue that a sellable slot could have."""
    min_duration: int = Field(default=1, ge=1)
    """A zero-duration request ends as it starts: no hosting, no payment."""
    max_duration: int = Field(default=TEN_YEARS, ge=1, le=UINT64_MAX)
    """Longer than any deal a host can honour (the chain's requestDurationLimit is far lower);
    it also keeps every end time far inside the int64 timestamps the host computes with."""
    min_proof_probability: int = Field(default=1, ge=1)
    """proofProbability 0: the chain refuses it, and the proof requirement divides by it, so a
    filled slot could never learn when a proof is due."""
    min_price_per_byte_per_second: int = Field(default=1, ge=0)
    """A free request pays nothing for the host's storage and proofs (the chain refuses it)."""
    min_collateral_per_byte: int = Field(default=1, ge=0)
    """The chain refuses collateralPerByte 0: such an event did not come from the marketplace."""
    max_price: int = Field(default=UINT256_MAX, ge=0, le=UINT256_MAX)
    """price x slotSize x duration per slot and its total over the slots (ARITH-2/3) must fit a
    uint256, as the contract's checked arithmetic requires; beyond it nothing can be paid."""
    max_collateral: int = Field(default=UINT256_MAX, ge=0, le=UINT256_MAX)
    """collateralPerByte x slotSize (ARITH-4) must fit a uint256: it is what a fill deposits."""


DEFAULT_BOUNDS = RequestBounds()


@dataclass(frozen=True)
class Terms:
    """What the gate looks at: the ask, and for a new request its absolute expiry and the block
    time it was created at (a freed slot's request has started: no expiry rule applies)."""

    ask: StorageAsk
    expires_at: int | None = None
    created_at: int | None = None


@dataclass(frozen=True)
class Rule:
    """One bound: its name (the metric label and log reason), why it exists, and the predicate
    that is true when ``terms`` violate it."""

    name: str
    reason: str
    violated: Callable[[Terms, RequestBounds], bool]
    new_requests_only: bool = False


def _price_per_slot(ask: StorageAsk) -> int:
    return ask.price_per_byte_per_second * ask.slot_size * ask.duration


def _expiry_seconds(terms: Terms) -> int:
    assert terms.expires_at is not None and terms.created_at is not None
    return terms.expires_at - terms.created_at


RULES: tuple[Rule, ...] = (
    Rule(
        "slots",
        "the slot count is outside 1..65535 (SQ-15): nothing to sell, or beyond 16-bit indices",
        lambda t, b: not b.min_slots <= t.ask.slots <= b.max_slots,
    ),
    Rule(
        "zero_slot_size",
        "a zero-byte slot stores nothing and carries neither collateral nor payment",
        lambda t, b: t.ask.slot_size < b.min_slot_size,
    ),
    Rule(
        "slot_size_over_quota",
        "the slot is larger than the host's whole store: it can never be reserved",
        lambda t, b: t.ask.slot_size > b.max_slot_size,
    ),
    Rule(
        "zero_duration",
        "a request of zero duration ends as it starts: nothing to host, nothing paid",
        lambda t, b: t.ask.duration < b.min_duration,
    ),
    Rule(
        "duration_too_long",
        "longer than any deal a host can honour, and near the int64 end of time",
        lambda t, b: t.ask.duration > b.max_duration,
    ),
    Rule(
        "zero_proof_probability",
        "the proof requirement divides by proofProbability: with 0 no proof is ever due on time",
        lambda t, b: t.ask.proof_probability < b.min_proof_probability,
    ),
    Rule(
        "zero_price",
        "the request pays nothing for the host's storage and proofs",
        lambda t, b: t.ask.price_per_byte_per_second < b.min_price_per_byte_per_second,
    ),
    Rule(
        "zero_collateral",
        "the chain refuses collateralPerByte 0: the event did not come from the marketplace",
        lambda t, b: t.ask.collateral_per_byte < b.min_collateral_per_byte,
    ),
    Rule(
        "max_slot_loss_over_slots",
        "the chain refuses maxSlotLoss above the slot count: not a marketplace request",
        lambda t, b: t.ask.max_slot_loss > t.ask.slots,
    ),
    Rule(
        "price_overflow",
        "price x slotSize x duration, per slot or over all slots, overflows a uint256",
        lambda t, b: t.ask.slots * _price_per_slot(t.ask) > b.max_price,
    ),
    Rule(
        "collateral_overflow",
        "collateralPerByte x slotSize overflows a uint256: no fill could deposit it",
        lambda t, b: t.ask.collateral_per_byte * t.ask.slot_size > b.max_collateral,
    ),
    Rule(
        "expiry_not_after_creation",
        "the request expires at or before it was created: it can never be filled",
        lambda t, b: _expiry_seconds(t) < 1,
        new_requests_only=True,
    ),
    Rule(
        "expiry_past_end",
        "the request expires at or after its end (Codex requires expiry < duration): a slot "
        "could be filled after the deal is over",
        lambda t, b: _expiry_seconds(t) >= t.ask.duration,
        new_requests_only=True,
    ),
    Rule(
        "end_past_timestamps",
        "creation + duration is past the int64 seconds every end time is kept in",
        lambda t, b: (t.created_at or 0) + t.ask.duration > INT64_MAX,
        new_requests_only=True,
    ),
)
"""Every bound, in the order they are checked; the first violated one is the reason."""


class RequestRefusedError(InvalidRequestError):
    """A request whose terms are outside the bounds: refused once, never retried."""

    def __init__(self, rule: Rule, terms: Terms) -> None:
        self.rule = rule
        self.terms = terms
        super().__init__(f"request refused ({rule.name}): {rule.reason}")


def refusal(terms: Terms, bounds: RequestBounds = DEFAULT_BOUNDS) -> Rule | None:
    """The first rule ``terms`` violate, or None when every bound holds."""
    new_request = terms.expires_at is not None and terms.created_at is not None
    for rule in RULES:
        if rule.new_requests_only and not new_request:
            continue
        if rule.violated(terms, bounds):
            return rule
    return None


def check(terms: Terms, bounds: RequestBounds = DEFAULT_BOUNDS) -> None:
    """Raise `RequestRefusedError` naming the first violated bound."""
    rule = refusal(terms, bounds)
    if rule is not None:
        raise RequestRefusedError(rule, terms)


def check_ask(ask: StorageAsk, bounds: RequestBounds = DEFAULT_BOUNDS) -> None:
    """The bounds on the ask alone (a freed slot of a started request, the queue's validator)."""
    check(Terms(ask=ask), bounds)


def check_new_request(
    ask: StorageAsk, expires_at: int, created_at: int, bounds: RequestBounds = DEFAULT_BOUNDS
) -> None:
    """Every bound, the expiry rules included (a StorageRequested event)."""
    check(Terms(ask=ask, expires_at=expires_at, created_at=created_at), bounds)


def describe_bounds() -> list[tuple[str, str]]:
    """(name, reason) of every rule, for documentation and the refusal metric's labels."""
    return [(rule.name, rule.reason) for rule in RULES]
