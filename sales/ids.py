"""Request and slot ids, byte-exact with the contract (ARITH-7, MARKETPLACE_ABI.md §2)."""

from typing import TYPE_CHECKING

from eth_abi.abi import encode

from sales.hexbytes import to_bytes, to_hex
from sales.keccak import keccak256

if TYPE_CHECKING:
    from sales.models import StorageRequest

REQUEST_ABI_TYPE = (
    "(address,(uint256,uint256,uint256,uint64,uint64,uint64,uint64),(bytes,bytes32),uint64,bytes32)"
)


def request_abi_tuple(request: "StorageRequest") -> tuple[object, ...]:
    """The Request struct as the ABI tuple the contract hashes and accepts."""
    ask = request.ask
    return (
        request.client,
        (
            ask.proof_probability,
            ask.price_per_byte_per_second,
            ask.collateral_per_byte,
            ask.slots,
            ask.slot_size,
            ask.duration,
            ask.max_slot_loss,
        ),
        (to_bytes(request.content.cid), to_bytes(request.content.merkle_root)),
        request.expiry,
        to_bytes(request.nonce),
    )


def encode_request(request: "StorageRequest") -> bytes:
    """abi.encode(request): one dynamic tuple, so it starts with the 0x20 head offset."""
    return encode([REQUEST_ABI_TYPE], [request_abi_tuple(request)])


def request_id(request: "StorageRequest") -> str:
    return to_hex(keccak256(encode_request(request)))


def slot_id(request_id_hex: str, slot_index: int) -> str:
    """keccak256(abi.encode(bytes32 requestId, uint64 slotIndex))."""
    return to_hex(keccak256(to_bytes(request_id_hex) + slot_index.to_bytes(32, "big")))
