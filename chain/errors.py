"""Every custom error the host can meet on chain, by selector, mapped to typed market errors.

Every Codex marketplace error is parameterless (MARKETPLACE_ABI.md §5), so the 4-byte selector
alone names it. The token's errors bubble out of fillSlot's ``transferFrom``: OpenZeppelin 5's
IERC20Errors (Codex's token) carry arguments, the development TestToken's do not; both become
`TokenAllowanceError` / `TokenBalanceError`, so a sale can tell "approve more" or "fund the
host" from a marketplace refusal. The vault's and OpenZeppelin's pause/ownership errors are
named too (MARKETPLACE_ABI.md §12), so no selector of the contracts reaches the host as raw data;
tests/chain/test_errors.py proves that every error in the ABIs is in `ERRORS`.

Both the on-chain adapter and the fake raise through `contract_error`, so the two produce the
same exception class and message for the same revert.
"""

from dataclasses import dataclass

from eth_abi.abi import decode
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

TOKEN_ERRORS: dict[str, list[str]] = {
    # OpenZeppelin 5 IERC20Errors (draft-IERC6093), raised by Codex's token
    "ERC20InsufficientBalance": ["address", "uint256", "uint256"],  # sender, balance, needed
    "ERC20InvalidSender": ["address"],
    "ERC20InvalidReceiver": ["address"],
    "ERC20InsufficientAllowance": ["address", "uint256", "uint256"],  # spender, allowance, needed
    "ERC20InvalidApprover": ["address"],
    "ERC20InvalidSpender": ["address"],
    # the development contract's TestToken
    "TestToken_InsufficientBalance": [],
    "TestToken_InsufficientAllowance": [],
    "TestToken_InvalidReceiver": [],
}
"""Token errors -> argument types."""

OTHER_ERRORS: dict[str, list[str]] = {
    # Codex's vault (MARKETPLACE_ABI.md §12)
    "VaultInsufficientBalance": [],
    "VaultInvalidExpiry": [],
    "VaultFundNotLocked": [],
    "VaultFundNotUnlocked": [],
    "VaultFundAlreadyLocked": [],
    "VaultFlowNotZero": [],
    "VaultOnlyAccountHolder": [],
    # OpenZeppelin Pausable, Ownable and SafeERC20, inherited by the vault
    "EnforcedPause": [],
    "ExpectedPause": [],
    "OwnableUnauthorizedAccount": ["address"],
    "OwnableInvalidOwner": ["address"],
    "SafeERC20FailedOperation": ["address"],
}


@dataclass(frozen=True)
class ErrorSpec:
    """One custom error: its name and the ABI types of its arguments."""

    name: str
    inputs: tuple[str, ...] = ()

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.inputs)})"

    @property
    def selector(self) -> str:
        return "0x" + keccak(self.signature.encode())[:4].hex()


ERRORS: dict[str, ErrorSpec] = {
    spec.selector: spec
    for spec in [
        *(ErrorSpec(name) for name in ERROR_NAMES),
        *(ErrorSpec(name, tuple(inputs)) for name, inputs in TOKEN_ERRORS.items()),
        *(ErrorSpec(name, tuple(inputs)) for name, inputs in OTHER_ERRORS.items()),
    ]
}
"""0x-selector -> the error it names, over every contract the host talks to."""

ERROR_BY_SELECTOR: dict[str, str] = {selector: spec.name for selector, spec in ERRORS.items()}
"""0x-selector -> error name."""

ALLOWANCE_ERRORS = frozenset({"ERC20InsufficientAllowance", "TestToken_InsufficientAllowance"})
BALANCE_ERRORS = frozenset({"ERC20InsufficientBalance", "TestToken_InsufficientBalance"})

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


class TokenError(ContractRevertError):
    """The ERC-20 token refused a transfer the marketplace asked for (fillSlot, requestStorage)."""


class TokenAllowanceError(TokenError):
    """The marketplace may not take as much as it needs: approve exactly that (MKT-7)."""


class TokenBalanceError(TokenError):
    """The signer holds fewer tokens than the collateral or price: fund the account."""


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


def error_arguments(revert_data: bytes | str | None) -> tuple[object, ...] | None:
    """The decoded arguments of a known custom error (None when unknown or malformed)."""
    if revert_data is None:
        return None
    try:
        data = (
            bytes(revert_data)
            if isinstance(revert_data, bytes)
            else bytes.fromhex(revert_data.removeprefix("0x").removeprefix("0X"))
        )
    except ValueError:
        return None
    spec = ERRORS.get("0x" + data[:4].hex())
    if spec is None:
        return None
    try:
        return tuple(decode(list(spec.inputs), data[4:])) if spec.inputs else ()
    except Exception:  # hostile or truncated arguments: the selector alone still names it
        return None


def contract_error(operation: str, reason: str) -> MarketError:
    """The typed error for `operation` reverting with custom error `reason` (MKT-3)."""
    message = f"{CONTEXT.get(operation, operation)}: {reason}"
    specific = _SPECIFIC.get((operation, reason))
    if specific is not None:
        return specific(message)
    if reason in ALLOWANCE_ERRORS:
        return TokenAllowanceError(message, reason)
    if reason in BALANCE_ERRORS:
        return TokenBalanceError(message, reason)
    return ContractRevertError(message, reason)
