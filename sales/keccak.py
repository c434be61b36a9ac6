"""keccak-256, bound at import time.

eth_hash chooses its backend lazily on the first call, which would import pycryptodome inside
the workflow sandbox and fail there; importing the backend here keeps ids pure and sandbox-safe.
"""

from Crypto.Hash import keccak as _keccak


def keccak256(data: bytes) -> bytes:
    return _keccak.new(digest_bits=256, data=data).digest()
