"""Content identifiers: CIDv1, raw codec (0x55), sha2-256 multihash, base58btc text ("z...").

Our data server names a dataset by the CID of its bytes. A request's Content.cid carries either
the binary CID (nim-codex) or the UTF-8 of the text form (Codex's JS tests); both are accepted.
"""

from __future__ import annotations

import hashlib

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_RAW_CIDV1_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])  # version 1, raw, sha2-256, 32 bytes


class CidError(ValueError):
    """Text or bytes that are not a CID we can name data with."""


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, rem = divmod(n, 58)
        out = _ALPHABET[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        idx = _ALPHABET.find(ch)
        if idx < 0:
            raise CidError(f"{ch!r} is not a base58btc character")
        n = n * 58 + idx
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def cid_for(data: bytes) -> str:
    """Text CIDv1 (raw, sha2-256) of `data`."""
    return "z" + b58encode(_RAW_CIDV1_PREFIX + hashlib.sha256(data).digest())


def cid_text(cid: bytes | str) -> str:
    """Normalise a request's content cid (binary CID, UTF-8 text, or text) to base58btc text."""
    if isinstance(cid, str):
        text = cid
    elif cid[:1] == b"\x01":
        text = "z" + b58encode(cid)
    else:
        try:
            text = cid.decode("ascii")
        except UnicodeDecodeError as e:
            raise CidError("content cid is neither a binary CIDv1 nor ASCII text") from e
    if not text.startswith("z") or len(text) < 2:
        raise CidError(f"only base58btc CIDv1 text is supported, got {text[:20]!r}")
    if b58decode(text[1:])[:1] != b"\x01":
        raise CidError("not a CIDv1")
    return text


def cid_bytes(text: str) -> bytes:
    """Binary form of a base58btc CID text, as nim-codex puts it in Content.cid."""
    return b58decode(cid_text(text)[1:])
