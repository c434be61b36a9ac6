"""Example values shared by the domain tests (MOCK-11's example request)."""

import pytest

from sales.models import StorageAsk, StorageContent, StorageRequest

GIB = 2**30


def example_request(nonce: int = 7, **ask_overrides: int) -> StorageRequest:
    ask = {
        "proof_probability": 4,
        "price_per_byte_per_second": 1,
        "collateral_per_byte": 1,
        "slots": 4,
        "slot_size": GIB,
        "duration": 36000,
        "max_slot_loss": 2,
    } | ask_overrides
    return StorageRequest(
        client="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        ask=StorageAsk(**ask),
        content=StorageContent(
            cid=b"zb2rhheVmk3bLks5MgzTqyznLu1zqGH5jrfTA1eAZXrjx7Vob", merkle_root=b"\x11" * 32
        ),
        expiry=3600,
        nonce=nonce.to_bytes(32, "big"),
    )


@pytest.fixture
def request_example() -> StorageRequest:
    return example_request()
