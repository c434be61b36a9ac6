"""ARITH-7: request and slot ids, byte for byte as MARKETPLACE_ABI.md §2 lays them out.

The expected bytes are assembled word by word here from the spec's layout and hashed with
eth-hash's keccak: an independent computation, not a call into the code under test.
"""

from eth_hash.auto import keccak as eth_hash_keccak
from hypothesis import given
from hypothesis import strategies as st

from sales.hexbytes import to_bytes
from sales.ids import encode_request, request_id, slot_id
from sales.models import StorageRequest
from tests.sales.conftest import example_request


def keccak256(data: bytes) -> bytes:
    """eth-hash's keccak: a separate entry point from the code under test's."""
    return bytes(eth_hash_keccak(data))


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def spec_layout(request: StorageRequest) -> bytes:
    """abi.encode(request) from §2: head offset, 11 head words, then the content tuple."""
    ask = request.ask
    cid = to_bytes(request.content.cid)
    padded = cid + b"\0" * (-len(cid) % 32)
    head = [
        word(int(request.client, 16)),
        word(ask.proof_probability),
        word(ask.price_per_byte_per_second),
        word(ask.collateral_per_byte),
        word(ask.slots),
        word(ask.slot_size),
        word(ask.duration),
        word(ask.max_slot_loss),
        word(0x160),  # content offset: always 11 words
        word(request.expiry),
        to_bytes(request.nonce),
    ]
    content = [word(0x40), to_bytes(request.content.merkle_root), word(len(cid)), padded]
    return word(0x20) + b"".join(head) + b"".join(content)


def test_arith_7_request_encoding_matches_the_spec_layout_byte_for_byte() -> None:
    request = example_request()
    assert encode_request(request) == spec_layout(request)


def test_arith_7_request_id_is_keccak_of_the_encoding() -> None:
    request = example_request()
    assert request_id(request) == "0x" + keccak256(spec_layout(request)).hex()
    assert request.id == request_id(request)


def test_arith_7_slot_id_is_keccak_of_request_id_and_uint64_index() -> None:
    rid = example_request().id
    expected = keccak256(to_bytes(rid) + word(3))
    assert slot_id(rid, 3) == "0x" + expected.hex()


@given(st.integers(0, 2**256 - 1), st.integers(0, 2**256 - 1))
def test_request_ids_are_stable_and_distinct_per_nonce(a: int, b: int) -> None:
    first, again = example_request(nonce=a), example_request(nonce=a)
    assert first.id == again.id
    if a != b:
        assert first.id != example_request(nonce=b).id


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_slot_ids_are_stable_and_distinct_per_index(i: int, j: int) -> None:
    rid = example_request().id
    assert slot_id(rid, i) == slot_id(rid, i)
    if i != j:
        assert slot_id(rid, i) != slot_id(rid, j)


@given(st.binary(min_size=1, max_size=100))
def test_cid_of_any_length_follows_the_layout(cid: bytes) -> None:
    base = example_request()
    request = base.model_copy(
        update={"content": base.content.model_copy(update={"cid": "0x" + cid.hex()})}
    )
    assert encode_request(request) == spec_layout(request)
