"""Committed artifacts are reproducible and speak exactly Codex's ABI (MARKETPLACE_ABI.md §3-§5).

Expected selectors and topics are the spec's table values, copied here; the actual ones are
computed from the compiled ABI, so a changed signature (type, order, overload) fails.
"""

from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from chain.build import ARTIFACTS_DIR, DEPLOYABLE, load_artifact, write_artifacts

# selector -> (name, number of inputs); §3 tables
FUNCTIONS = {
    "0x6c70bee9": ("configuration", 0),
    "0xfc0c546a": ("token", 0),
    "0x26d6f834": ("currentCollateral", 1),
    "0x99b6da0c": ("requestStorage", 1),
    "0x1d873c1b": ("fillSlot", 3),
    "0xa29c29a4": ("freeSlot", 1),
    "0x0aefaabe": ("freeSlot", 3),
    "0xe8aa0a07": ("submitProof", 2),
    "0xd1bb36b6": ("canMarkProofAsMissing", 2),
    "0x237d8482": ("markProofAsMissing", 2),
    "0x6e2b54ee": ("withdrawFunds", 1),
    "0xc5d43351": ("withdrawFunds", 2),
    "0xb396dc79": ("getActiveSlot", 1),
    "0xfb1e61ca": ("getRequest", 1),
    "0x02fa8e65": ("requestEnd", 1),
    "0x329b5a0b": ("requestExpiry", 1),
    "0x6b00c8cf": ("getHost", 1),
    "0x05b90773": ("requestState", 1),
    "0xbe5cdc48": ("slotState", 1),
    "0x51a76642": ("slotProbability", 1),
    "0xf752196b": ("missingProofs", 1),
    "0x4641dce6": ("getPointer", 1),
    "0x458d2bf1": ("getChallenge", 1),
    "0xc0cc4add": ("isProofRequired", 1),
    "0xa3a0807e": ("willProofBeRequired", 1),
    "0x12827602": ("reserveSlot", 2),
    "0xd02bbe33": ("canReserveSlot", 2),
    "0x9777b72c": ("myRequests", 0),
    "0x5da73835": ("mySlots", 0),
}

# topic0 -> (name, indexed flags); §4 table
EVENTS = {
    "0x1bf9c457accf8703dbf7cdf1b58c2f74ddf2e525f98155c70b3d318d74609bd8": (
        "StorageRequested",
        (False, False, False),
    ),
    "0x85e1543bf2f84fe80c6badbce3648c8539ad1df4d2b3d822938ca0538be727e6": (
        "RequestFulfilled",
        (True,),
    ),
    "0x4769361a442504ecaf038f35e119bcccdd5e42096b24c09e3c17fd17c6684c02": (
        "RequestFailed",
        (True,),
    ),
    "0x8f301470a994578b52323d625dfbf827ca5208c81747d3459be7b8867baec3ec": (
        "SlotFilled",
        (True, False),
    ),
    "0x33ba8f7627565d89f7ada2a6b81ea532b7aa9b11e91a78312d6e1fca0bfcd1dc": (
        "SlotFreed",
        (True, False),
    ),
    "0xf903f4774c7bd27355f9d7fcbc382b079b164a697a44ac5d95267a4c3cb3bb22": (
        "RequestCancelled",
        (True,),
    ),
    "0x3b989d183b84b02259d7c14b34a9c9eb0fccb4c355a920d25e581e25aef4993d": (
        "ProofSubmitted",
        (False,),
    ),
    "0xc8e6c955744189a19222ec226b72ac1435d88d5745252dac56e6f679f64c037a": (
        "SlotReservationsFull",
        (True, False),
    ),
}

# name -> selector; §5 table without the Vault errors (§12 is out of scope)
ERRORS = {
    "Marketplace_RepairRewardPercentageTooHigh": "0x2bd81630",
    "Marketplace_SlashPercentageTooHigh": "0xa9cbc156",
    "Marketplace_MaximumSlashingTooHigh": "0x5ffe743c",
    "Marketplace_InvalidExpiry": "0xdf63f61a",
    "Marketplace_InvalidMaxSlotLoss": "0xb9551ab1",
    "Marketplace_InsufficientSlots": "0x535ed2be",
    "Marketplace_InsufficientDuration": "0x090a5ecd",
    "Marketplace_InsufficientProofProbability": "0x6aba7aae",
    "Marketplace_InsufficientCollateral": "0xfb7df0c7",
    "Marketplace_InsufficientReward": "0x47ba51c7",
    "Marketplace_InvalidClientAddress": "0x698d3c62",
    "Marketplace_RequestAlreadyExists": "0xfc7d0690",
    "Marketplace_InvalidSlot": "0x3b920b88",
    "Marketplace_InvalidCid": "0x86f8cf9b",
    "Marketplace_SlotNotFree": "0xff556acf",
    "Marketplace_InvalidSlotHost": "0x57a6f4e9",
    "Marketplace_AlreadyPaid": "0xc2cbf777",
    "Marketplace_TransferFailed": "0xf8599ffa",
    "Marketplace_UnknownRequest": "0xbdd64a7a",
    "Marketplace_InvalidState": "0xc00b5b57",
    "Marketplace_StartNotBeforeExpiry": "0x56607cb0",
    "Marketplace_SlotNotAcceptingProofs": "0xae9dcffd",
    "Marketplace_ProofNotSubmittedByHost": "0xce351b94",
    "Marketplace_SlotIsFree": "0x8b41ec7f",
    "Marketplace_ReservationRequired": "0xd651ce18",
    "Marketplace_NothingToWithdraw": "0xbd8bdd94",
    "Marketplace_DurationExceedsLimit": "0x1267b3f2",
    "Proofs_InsufficientBlockHeight": "0x71ebecc2",
    "Proofs_InvalidProof": "0xfcd03a47",
    "Proofs_ProofAlreadySubmitted": "0x3edef7db",
    "Proofs_PeriodNotEnded": "0x6b4b1a4e",
    "Proofs_ValidationTimedOut": "0xde55698e",
    "Proofs_ProofNotMissing": "0x00fab7d9",
    "Proofs_ProofNotRequired": "0xd3ffa66b",
    "Proofs_ProofAlreadyMarkedMissing": "0x98e7e551",
    "Periods_InvalidSecondsPerPeriod": "0x2aa6d8e0",
    "SlotReservations_ReservationNotAllowed": "0x424a04ab",
}

VERIFY_SELECTOR = "0x94c8919d"  # IGroth16Verifier.verify (§3)


def canonical_type(param: dict[str, Any]) -> str:
    """ABI JSON parameter -> canonical type, expanding tuples (user types are already lowered)."""
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(canonical_type(p) for p in item['inputs'])})"


def hash_hex(text: str, length: int) -> str:
    return "0x" + keccak(text.encode())[:length].hex()


def abi_items(contract: str, kind: str) -> list[dict[str, Any]]:
    return [i for i in load_artifact(contract)["abi"] if i["type"] == kind]


def test_function_selectors_match_the_spec() -> None:
    compiled = {
        hash_hex(signature(f), 4): (f["name"], len(f["inputs"]))
        for f in abi_items("Marketplace", "function")
    }
    for selector, expected in FUNCTIONS.items():
        assert compiled.get(selector) == expected, selector
    for contract in ("Groth16Verifier", "TestVerifier"):
        selectors = [hash_hex(signature(f), 4) for f in abi_items(contract, "function")]
        assert selectors == [VERIFY_SELECTOR]


def test_event_topics_and_indexing_match_the_spec() -> None:
    compiled = {
        hash_hex(signature(e), 32): (e["name"], tuple(p["indexed"] for p in e["inputs"]))
        for e in abi_items("Marketplace", "event")
    }
    assert compiled == EVENTS


def test_error_selectors_match_the_spec() -> None:
    compiled = {e["name"]: hash_hex(signature(e), 4) for e in abi_items("Marketplace", "error")}
    assert compiled == ERRORS
    assert all(not e["inputs"] for e in abi_items("Marketplace", "error"))


def test_build_is_reproducible(tmp_path: Path) -> None:
    """Rebuilding from the sources gives the committed artifacts byte for byte."""
    written = write_artifacts(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{name}.json" for name in DEPLOYABLE)
    assert sorted(p.name for p in ARTIFACTS_DIR.glob("*.json")) == sorted(p.name for p in written)
    for path in written:
        assert path.read_bytes() == (ARTIFACTS_DIR / path.name).read_bytes(), path.name
    compiler = load_artifact("Marketplace")["compiler"]
    assert compiler["version"].startswith("0.8.28+")
    assert compiler["evmVersion"] == "paris"
    assert compiler["optimizer"] == {"enabled": True, "runs": 1000}
