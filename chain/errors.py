"""The marketplace's custom errors by selector, and their mapping to typed market errors (MKT-2/3).

Every Codex marketplace error is parameterless (MARKETPLACE_ABI.md §5), so the 4-byte selector
alone names it. Both the on-chain adapter and the fake raise through `contract_error`, so the two
produce the same exception class and message for the same revert.
"""

from eth_hash.auto import keccak

from chain.market import (
    MarketError,
    ProofInvalidError,
    SlotReservationNotAllowedError,
    SlotStateMismatchError,
)

ERROR_NAMES = [
    "Marketplace_RepairRewardPercentageTooHigh",
    "Marketplace_SlashPercentageTooHigh",
    "Marketplace_MaximumSlashingTooHigh",
    "Marketplace_InvalidExpiry",
    "Marketplace_InvalidMaxSlotLoss",
    "Marketplace_InsufficientSlots",
    "Marketplace_InsufficientDuration",
    "Marketplace_InsufficientProofProbability",
    "Marketplace_InsufficientCollateral",
    "Marketplace_InsufficientReward",
    "Marketplace_InvalidClientAddress",
    "Marketplace_RequestAlreadyExists",
    "Marketplace_InvalidSlot",
    "Marketplace_InvalidCid",
    "Marketplace_SlotNotFree",
    "Marketplace_InvalidSlotHost",
    "Marketplace_AlreadyPaid",
    "Marketplace_TransferFailed",
    "Marketplace_UnknownRequest",
    "Marketplace_InvalidState",
    "Marketplace_StartNotBeforeExpiry",
    "Marketplace_SlotNotAcceptingProofs",
    "Marketplace_ProofNotSubmittedByHost",
    "Marketplace_SlotIsFree",
    "Marketplace_ReservationRequired",
    "Marketplace_NothingToWithdraw",
    "Marketplace_DurationExceedsLimit",
    "Proofs_InsufficientBlockHeight",
    "Proofs_InvalidProof",
    "Proofs_ProofAlreadySubmitted",
    "Proofs_PeriodNotEnded",
    "Proofs_ValidationTimedOut",
    "Proofs_ProofNotMissing",
    "Proofs_ProofNotRequired",
    "Proofs_ProofAlreadyMarkedMissing",
    "Periods_InvalidSecondsPerPeriod",
    "SlotReservations_ReservationNotAllowed",
]

ERROR_BY_SELECTOR: dict[str, str] = {
    "0x" + keccak(f"{name}()".encode())[:4].hex(): name for name in ERROR_NAMES
}
"""0x-selector -> error name."""

PANIC_SELECTOR = "0x4e487b71"
ERROR_STRING_SELECTOR = "0x08c379a0"

# (operation, revert) -> typed error; everything else is a plain MarketError (MKT-3)
_SPECIFIC: dict[tuple[str, str], type[MarketError]] = {
    ("fillSlot", "Marketplace_SlotNotFree"): SlotStateMismatchError,
    ("freeSlot", "Marketplace_SlotIsFree"): SlotStateMismatchError,
    ("reserveSlot", "SlotReservations_ReservationNotAllowed"): SlotReservationNotAllowedError,
    ("submitProof", "Proofs_InvalidProof"): ProofInvalidError,
    # Beyond MKT-3: a fill whose proof the chain rejects is typed too, so the sale can tell a
    # challenge that moved on (re-prove) from other failures.
    ("fillSlot", "Proofs_InvalidProof"): ProofInvalidError,
}

CONTEXT = {
    "fillSlot": "Failed to fill slot",
    "freeSlot": "Failed to free slot",
    "reserveSlot": "Failed to reserve slot",
    "submitProof": "Failed to submit proof",
    "requestStorage": "Failed to request storage",
    "withdrawFunds": "Failed to withdraw funds",
    "markProofAsMissing": "Failed to mark proof as missing",
    "approve": "Failed to approve funds",
}


class ContractRevertError(MarketError):
    """A revert with a known custom error that has no more specific type; ``reason`` names it."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def error_name(revert_data: bytes | str | None) -> str | None:
    """The custom error named by revert data, or None when it is not one of ours."""
    if revert_data is None:
        return None
    if isinstance(revert_data, bytes):
        text = "0x" + revert_data.hex()
    else:
        text = revert_data.lower()
        if not text.startswith("0x"):
            text = "0x" + text
    selector = text[:10]
    if selector == PANIC_SELECTOR:
        return "Panic"
    return ERROR_BY_SELECTOR.get(selector)


def contract_error(operation: str, reason: str) -> MarketError:
    """The typed error for `operation` reverting with custom error `reason` (MKT-3)."""
    message = f"{CONTEXT.get(operation, operation)}: {reason}"
    specific = _SPECIFIC.get((operation, reason))
    if specific is not None:
        return specific(message)
    return ContractRevertError(message, reason)
