"""Byte strings carried as lowercase 0x-hex text.

Ids and hashes cross Temporal payloads, PostgreSQL and logs; hex text is lossless in JSON and
readable in the Web UI, where raw bytes are neither.
"""

from typing import Annotated

from eth_utils.address import to_checksum_address
from pydantic import AfterValidator, BeforeValidator, StringConstraints


def _to_hex(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value.lower()
    return value


Bytes32 = Annotated[
    str,
    BeforeValidator(_to_hex),
    StringConstraints(pattern=r"^0x[0-9a-f]{64}$"),
]
"""32 bytes: request ids, slot ids, nonces, merkle roots, challenges, tx hashes."""

HexData = Annotated[str, BeforeValidator(_to_hex), StringConstraints(pattern=r"^0x([0-9a-f]{2})*$")]
"""Arbitrary bytes, e.g. the binary CID of a request's content."""


def _checksum(value: str) -> str:
    return str(to_checksum_address(value))


Address = Annotated[
    str,
    BeforeValidator(_to_hex),
    StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$"),
    AfterValidator(_checksum),
]
"""An EVM address in EIP-55 checksum form."""

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def to_bytes(hex_text: str) -> bytes:
    """The raw bytes of a 0x-hex string."""
    return bytes.fromhex(hex_text[2:] if hex_text.startswith("0x") else hex_text)


def to_hex(data: bytes) -> str:
    return "0x" + data.hex()
