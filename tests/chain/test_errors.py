"""Typed token and contract errors (issue 13, point 4): every selector the host can meet is named
and typed, and a malformed RPC result is a retryable transport failure, never a MarketError."""

import json
from pathlib import Path

import pytest
from eth_abi.abi import encode
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DefaultFailureConverter, DefaultPayloadConverter
from temporalio.exceptions import ApplicationError

from activities.errors import business_errors, to_application_error
from chain.errors import (
    ERRORS,
    ContractRevertError,
    TokenAllowanceError,
    TokenBalanceError,
    contract_error,
    error_arguments,
    error_name,
)
from chain.market import MarketError
from chain.onchain import ChainUnavailableError, MalformedResponseError

ROOT = Path(__file__).resolve().parents[2]
CODEX_SELECTORS: dict[str, str] = {
    "0x2bd81630": "Marketplace_RepairRewardPercentageTooHigh",
    "0xa9cbc156": "Marketplace_SlashPercentageTooHigh",
    "0x5ffe743c": "Marketplace_MaximumSlashingTooHigh",
    "0xdf63f61a": "Marketplace_InvalidExpiry",
    "0xb9551ab1": "Marketplace_InvalidMaxSlotLoss",
    "0x535ed2be": "Marketplace_InsufficientSlots",
    "0x090a5ecd": "Marketplace_InsufficientDuration",
    "0x6aba7aae": "Marketplace_InsufficientProofProbability",
    "0xfb7df0c7": "Marketplace_InsufficientCollateral",
    "0x47ba51c7": "Marketplace_InsufficientReward",
    "0x698d3c62": "Marketplace_InvalidClientAddress",
    "0xfc7d0690": "Marketplace_RequestAlreadyExists",
    "0x3b920b88": "Marketplace_InvalidSlot",
    "0x86f8cf9b": "Marketplace_InvalidCid",
    "0xff556acf": "Marketplace_SlotNotFree",
    "0x57a6f4e9": "Marketplace_InvalidSlotHost",
    "0xc2cbf777": "Marketplace_AlreadyPaid",
    "0xf8599ffa": "Marketplace_TransferFailed",
    "0xbdd64a7a": "Marketplace_UnknownRequest",
    "0xc00b5b57": "Marketplace_InvalidState",
    "0x56607cb0": "Marketplace_StartNotBeforeExpiry",
    "0xae9dcffd": "Marketplace_SlotNotAcceptingProofs",
    "0xce351b94": "Marketplace_ProofNotSubmittedByHost",
    "0x8b41ec7f": "Marketplace_SlotIsFree",
    "0xd651ce18": "Marketplace_ReservationRequired",
    "0xbd8bdd94": "Marketplace_NothingToWithdraw",
    "0x1267b3f2": "Marketplace_DurationExceedsLimit",
    "0x71ebecc2": "Proofs_InsufficientBlockHeight",
    "0xfcd03a47": "Proofs_InvalidProof",
    "0x3edef7db": "Proofs_ProofAlreadySubmitted",
    "0x6b4b1a4e": "Proofs_PeriodNotEnded",
    "0xde55698e": "Proofs_ValidationTimedOut",
    "0x00fab7d9": "Proofs_ProofNotMissing",
    "0xd3ffa66b": "Proofs_ProofNotRequired",
    "0x98e7e551": "Proofs_ProofAlreadyMarkedMissing",
    "0x2aa6d8e0": "Periods_InvalidSecondsPerPeriod",
    "0x424a04ab": "SlotReservations_ReservationNotAllowed",
    "0xf19fe417": "VaultInsufficientBalance",
    "0x4460ffba": "VaultInvalidExpiry",
    "0x45cd2b1e": "VaultFundNotLocked",
    "0x22fc3442": "VaultFundNotUnlocked",
    "0x6d1bd087": "VaultFundAlreadyLocked",
    "0xd542fb1d": "VaultFlowNotZero",
    "0xff2646f4": "VaultOnlyAccountHolder",
}
"""MARKETPLACE_ABI.md §5: Codex's marketplace and vault errors by selector (copied as data)."""


def abi_errors() -> dict[str, str]:
    """selector -> name of every custom error in the development contracts' ABIs."""
    from eth_hash.auto import keccak

    found: dict[str, str] = {}
    for artifact in sorted((ROOT / "chain" / "artifacts").glob("*.json")):
        for item in json.loads(artifact.read_text())["abi"]:
            if item["type"] == "error":
                signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                found["0x" + keccak(signature.encode())[:4].hex()] = item["name"]
    return found


def test_every_custom_error_of_the_development_abis_is_mapped() -> None:
    """Point 4: each selector of chain/artifacts/*.json names its error and has a typed error."""
    declared = abi_errors()
    assert len(declared) >= 40  # the marketplace's 37 and the TestToken's 3
    for selector, name in declared.items():
        assert error_name(selector) == name
        assert isinstance(contract_error("fillSlot", name), ContractRevertError | MarketError)


def test_every_selector_of_the_codex_abi_spec_is_mapped() -> None:
    """Point 4: the selectors MARKETPLACE_ABI.md §5 lists for Codex's marketplace and vault,
    and OpenZeppelin's errors the vault inherits (§12)."""
    for selector, name in CODEX_SELECTORS.items():
        assert ERRORS[selector].name == name
    for name in ("EnforcedPause", "ExpectedPause", "OwnableUnauthorizedAccount",
                 "OwnableInvalidOwner", "SafeERC20FailedOperation"):  # fmt: skip
        assert name in {spec.name for spec in ERRORS.values()}


def test_openzeppelin_token_errors_are_typed_with_their_arguments() -> None:
    """Point 4: ERC20InsufficientAllowance (0xfb8f41b2) and ERC20InsufficientBalance
    (0xe450d38c), what Codex's token raises out of fillSlot, are typed, arguments decoded."""
    spender, owner = "0x" + "11" * 20, "0x" + "22" * 20
    allowance = "0xfb8f41b2" + encode(["address", "uint256", "uint256"], [spender, 5, 9]).hex()
    balance = "0xe450d38c" + encode(["address", "uint256", "uint256"], [owner, 1, 9]).hex()
    assert error_name(allowance) == "ERC20InsufficientAllowance"
    assert error_arguments(allowance) == (spender, 5, 9)
    assert error_name(balance) == "ERC20InsufficientBalance"
    assert error_arguments(balance) == (owner, 1, 9)
    assert isinstance(contract_error("fillSlot", "ERC20InsufficientAllowance"), TokenAllowanceError)
    assert isinstance(contract_error("fillSlot", "ERC20InsufficientBalance"), TokenBalanceError)
    assert isinstance(
        contract_error("fillSlot", "TestToken_InsufficientBalance"), TokenBalanceError
    )
    names = {spec.name for spec in ERRORS.values()}
    assert {
        "ERC20InvalidSender",
        "ERC20InvalidReceiver",
        "ERC20InvalidApprover",
        "ERC20InvalidSpender",
    } <= names
    # truncated arguments: the selector still names the error, the arguments are unknown
    assert error_name(allowance[:20]) == "ERC20InsufficientAllowance"
    assert error_arguments(allowance[:20]) is None
    assert error_arguments("0xzz") is None and error_arguments(None) is None


def test_transport_errors_stay_retryable_and_token_errors_are_business_errors() -> None:
    """Point 4: activities/errors.py classifies a malformed response as retryable (None) and a
    token balance too small as a non-retryable market error, an allowance too small as
    retryable."""
    assert to_application_error(MalformedResponseError("truncated")) is None
    assert to_application_error(ChainUnavailableError("timeout")) is None
    typed = to_application_error(contract_error("fillSlot", "ERC20InsufficientBalance"))
    assert isinstance(typed, ApplicationError) and typed.non_retryable
    # an allowance someone else lowered: the retry approves exactly again
    assert to_application_error(contract_error("fillSlot", "ERC20InsufficientAllowance")) is None


async def test_a_garbage_answer_gives_a_small_failure_that_still_says_what_failed() -> None:
    """An endpoint answering megabytes of garbage: the activity's failure, as Temporal encodes it
    for the history, stays small (the server would replace a failure of megabytes with "Failure
    exceeds size limit"), is still a retryable transport failure, and names what failed."""
    garbage = "\\x00garbage" * 300_000

    async def read() -> None:
        async with business_errors():
            try:
                raise ValueError(f"could not decode {garbage}")
            except ValueError as exc:
                raise ChainUnavailableError(f"eth_call failed: {exc}") from exc

    with pytest.raises(ChainUnavailableError) as raised:
        await read()
    error = raised.value
    assert str(error).startswith("eth_call failed: could not decode")
    assert "characters in all" in str(error)
    assert error.__cause__ is None
    failure = Failure()
    DefaultFailureConverter().to_failure(error, DefaultPayloadConverter(), failure)
    assert failure.ByteSize() < 20_000, failure.ByteSize()
    assert not failure.HasField("cause")
