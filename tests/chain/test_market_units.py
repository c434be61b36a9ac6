"""Unit tests of the adapter's small parts: error selectors (MKT-2/3) and the nonce manager."""

import asyncio

import pytest

from chain.build import load_artifact
from chain.errors import ERROR_BY_SELECTOR, ContractRevertError, contract_error, error_name
from chain.market import (
    MarketError,
    ProofInvalidError,
    SlotReservationNotAllowedError,
    SlotStateMismatchError,
)
from chain.nonce import NonceManager


def test_error_table_covers_every_custom_error_of_the_marketplace() -> None:
    abi = load_artifact("Marketplace")["abi"]
    declared = {item["name"] for item in abi if item["type"] == "error"}
    assert declared <= set(ERROR_BY_SELECTOR.values())
    assert error_name("0x8b41ec7f") == "Marketplace_SlotIsFree"  # ABI §0 sanity check
    assert error_name(bytes.fromhex("8b41ec7f")) == "Marketplace_SlotIsFree"
    assert error_name("0x4e487b71" + "00" * 31 + "11") == "Panic"
    assert error_name("0xdeadbeef") is None and error_name(None) is None


@pytest.mark.parametrize(
    ("operation", "reason", "expected"),
    [
        ("fillSlot", "Marketplace_SlotNotFree", SlotStateMismatchError),
        ("freeSlot", "Marketplace_SlotIsFree", SlotStateMismatchError),
        ("reserveSlot", "SlotReservations_ReservationNotAllowed", SlotReservationNotAllowedError),
        ("submitProof", "Proofs_InvalidProof", ProofInvalidError),
        ("fillSlot", "Proofs_InvalidProof", ProofInvalidError),  # our addition: re-prove
        ("freeSlot", "Marketplace_SlotNotFree", ContractRevertError),
        ("withdrawFunds", "Marketplace_NothingToWithdraw", ContractRevertError),
    ],
)
def test_mkt3_mappings(operation: str, reason: str, expected: type[MarketError]) -> None:
    error = contract_error(operation, reason)
    assert type(error) is expected and isinstance(error, MarketError)
    assert str(error).endswith(reason) and str(error).startswith("Failed to")


async def test_nonce_manager_hands_out_consecutive_nonces_to_concurrent_callers() -> None:
    reads = 0

    async def pending() -> int:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0)
        return 40

    manager = NonceManager(pending)
    taken: list[int] = []

    async def send() -> None:
        async with manager.next_nonce() as nonce:
            await asyncio.sleep(0)  # a broadcast takes time; others must wait
            taken.append(nonce)

    await asyncio.gather(*(send() for _ in range(20)))
    assert taken == list(range(40, 60)) and reads == 1


async def test_a_failed_broadcast_gives_its_nonce_back_via_the_node() -> None:
    node_count = 7

    async def pending() -> int:
        return node_count

    manager = NonceManager(pending)
    async with manager.next_nonce() as nonce:
        assert nonce == 7
    node_count = 8
    with pytest.raises(RuntimeError):
        async with manager.next_nonce() as nonce:
            assert nonce == 8
            raise RuntimeError("node refused the transaction")
    async with manager.next_nonce() as nonce:
        assert nonce == 8  # re-read from the node, not 9
