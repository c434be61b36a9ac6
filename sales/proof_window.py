"""When a periodic proof can be computed and still land valid (MARKETPLACE_ABI §8).

The challenge of a slot is the hash of block `number - 1 - pointer`. The pointer climbs by one
per block, so the challenge stays the same until the pointer wraps from 255 to 0, and it
changes again when the period changes (the pointer jumps by `downtimeProduct`). A proof is only
valid for the challenge of the block it lands in: a proof computed before a wrap and mined after
it reverts with `Proofs_InvalidProof`, and the period is lost.

So before proving, the sale asks how long the current challenge still holds against the time the
proof is expected to take plus the time to land. With too little left, it waits for the wrap and
proves the new challenge, within the same period.
"""

import math
from dataclasses import dataclass
from enum import StrEnum

POINTER_WRAP = 256
"""The pointer runs over 256 values (a uint8)."""


class Move(StrEnum):
    PROVE = "prove"
    """Prove now; the result must land before `deadline`."""
    WAIT_FOR_WRAP = "wait_for_wrap"
    """The wrap is too close: sleep until `wait_until`, then read the new challenge."""
    TOO_LATE = "too_late"
    """The period ends before a proof could land: this period is lost."""


@dataclass(frozen=True)
class Plan:
    move: Move
    deadline: int = 0
    """Chain time by which proving and submitting must be done (PROVE)."""
    wait_until: int = 0
    """Chain time to wake at (WAIT_FOR_WRAP): just after the wrap."""


def blocks_until_wrap(pointer: int) -> int:
    """Blocks after the read block that still see the same challenge."""
    if not 0 <= pointer < POINTER_WRAP:
        raise ValueError(f"pointer {pointer} is not a uint8")
    return POINTER_WRAP - 1 - pointer


def plan_proof(
    *,
    now: int,
    period_end: int,
    pointer: int,
    seconds_per_block: float,
    proof_seconds: float,
    landing_seconds: float,
) -> Plan:
    """Decide whether to prove now, wait for the pointer to wrap, or give the period up.

    `now` is the read block's timestamp, `period_end` the first second of the next period,
    `proof_seconds` how long the last proof took and `landing_seconds` the time a submission
    needs to be mined. A proof that must land before the wrap has to fit before it; one that
    only has to land within the period is tried while the landing time is left, because an
    attempt that may land beats a certain miss.
    """
    if seconds_per_block <= 0 or proof_seconds < 0 or landing_seconds < 0:
        raise ValueError("seconds_per_block must be positive and the durations not negative")
    if now + landing_seconds >= period_end:
        return Plan(Move.TOO_LATE)
    wrap_at = now + blocks_until_wrap(pointer) * seconds_per_block
    if wrap_at >= period_end:
        return Plan(Move.PROVE, deadline=period_end)
    deadline = math.floor(wrap_at)  # chain time is whole seconds
    if deadline - now >= max(proof_seconds + landing_seconds, 1):
        return Plan(Move.PROVE, deadline=deadline)
    wake = math.ceil(wrap_at + seconds_per_block)
    if wake + landing_seconds >= period_end:
        return Plan(Move.TOO_LATE)
    return Plan(Move.WAIT_FOR_WRAP, wait_until=wake)
