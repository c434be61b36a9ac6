"""Poseidon2 over BN254 (t = 3) in plain Python: the reference the native code is tested against.

Written from the specification in the README of codex-storage/codex-storage-proofs-circuits:

- the permutation: an initial linear layer, 4 full rounds, 56 partial rounds, 4 full rounds,
  S-box x^5; the external matrix is circ(2, 1, 1) (x_i + sum), the internal one
  [[2,1,1],[1,2,1],[1,1,3]];
- the keyed compression: permute (x, y, key) and keep the first element;
- the sponge: state (0, 0, domSep) with domSep = 2^64 + 256 * t + rate, rate 1 or 2, padding
  `10*` over field elements (always absorb one more 1, then zeros to fill the rate);
- bytes to field elements: 31-byte little-endian chunks after `10*` byte padding (append 0x01,
  then zeros to a multiple of 31);
- Merkle trees with the "safe" convention: every compression is keyed with
  bit 0 = bottom layer, bit 1 = odd node (a lone last node, compressed with 0); a tree of one
  leaf is still compressed once (key 3).

It is slow (≈ 1 ms per permutation); `proofs.poseidon2.fast` is the native hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from proofs.poseidon2.constants import FINAL, INITIAL, INTERNAL
from proofs.public_inputs import SNARK_SCALAR_FIELD

R = SNARK_SCALAR_FIELD
T = 3
ELEM_BYTES = 31

KEY_NONE = 0
KEY_BOTTOM = 1
KEY_ODD = 2
KEY_ODD_BOTTOM = 3

State = tuple[int, int, int]


class FieldElementError(ValueError):
    """A value that is not a canonical BN254 scalar field element (0 <= v < R)."""


def _check(values: Iterable[int]) -> None:
    for v in values:
        if not 0 <= v < R:
            raise FieldElementError(f"{v} is not a BN254 scalar field element")


def _sbox(x: int) -> int:
    return pow(x, 5, R)


def _full_round(state: State, c: Sequence[int]) -> State:
    x, y, z = (_sbox((v + k) % R) for v, k in zip(state, c, strict=True))
    s = x + y + z
    return (x + s) % R, (y + s) % R, (z + s) % R


def _partial_round(state: State, c: int) -> State:
    x, y, z = state
    x = _sbox((x + c) % R)
    s = x + y + z
    return (x + s) % R, (y + s) % R, (2 * z + s) % R


def permutation(state: State) -> State:
    """The Poseidon2 permutation of three field elements."""
    _check(state)
    x, y, z = state
    s = x + y + z
    st: State = ((x + s) % R, (y + s) % R, (z + s) % R)
    for j in range(4):
        st = _full_round(st, INITIAL[3 * j : 3 * j + 3])
    for c in INTERNAL:
        st = _partial_round(st, c)
    for j in range(4):
        st = _full_round(st, FINAL[3 * j : 3 * j + 3])
    return st


def compress(x: int, y: int, key: int = KEY_NONE) -> int:
    """Keyed compression: the first element of permutation(x, y, key)."""
    return permutation((x, y, key))[0]


def domain_separator(rate: int) -> int:
    return 2**64 + 256 * T + rate


def sponge(elements: Sequence[int], rate: int = 2) -> int:
    """Sponge hash of field elements with `10*` padding, rate 1 or 2."""
    if rate not in (1, 2):
        raise ValueError("rate must be 1 or 2")
    _check(elements)
    padded = [*elements, 1]
    while len(padded) % rate:
        padded.append(0)
    st: State = (0, 0, domain_separator(rate))
    for i in range(0, len(padded), rate):
        a = padded[i]
        b = padded[i + 1] if rate == 2 else 0
        st = permutation(((st[0] + a) % R, (st[1] + b) % R, st[2]))
    return st[0]


def bytes_to_elements(data: bytes) -> list[int]:
    """31-byte little-endian chunks of `data + 0x01`, the last one zero-padded."""
    padded = data + b"\x01"
    padded += b"\0" * (-len(padded) % ELEM_BYTES)
    return [
        int.from_bytes(padded[i : i + ELEM_BYTES], "little")
        for i in range(0, len(padded), ELEM_BYTES)
    ]


def hash_bytes(data: bytes) -> int:
    """The hash of a byte string (a cell): the rate-2 sponge of its padded field elements."""
    return sponge(bytes_to_elements(data), rate=2)


# ---------------------------------------------------------------------------------------------
# Merkle trees


def merkle_layer(nodes: Sequence[int], bottom: bool) -> list[int]:
    """One layer up: pairs compressed with key (bottom | 0), a lone last node with (bottom | 2)."""
    flag = KEY_BOTTOM if bottom else KEY_NONE
    out = [compress(nodes[i], nodes[i + 1], flag) for i in range(0, len(nodes) - 1, 2)]
    if len(nodes) % 2:
        out.append(compress(nodes[-1], 0, flag | KEY_ODD))
    return out


def merkle_levels(leaves: Sequence[int]) -> list[list[int]]:
    """All layers bottom-up, the last [root]; one leaf gives [[leaf], [compress(leaf, 0, 3)]]."""
    if not leaves:
        raise ValueError("the Merkle root of no leaves is not defined")
    _check(leaves)
    levels = [list(leaves)]
    if len(leaves) == 1:
        levels.append([compress(leaves[0], 0, KEY_ODD_BOTTOM)])
        return levels
    while len(levels[-1]) > 1:
        levels.append(merkle_layer(levels[-1], bottom=len(levels) == 1))
    return levels


def merkle_root(leaves: Sequence[int]) -> int:
    return merkle_levels(leaves)[-1][0]


def merkle_path(levels: Sequence[Sequence[int]], index: int) -> list[int]:
    """Siblings bottom-up for leaf `index`; 0 where the node is odd (has no sibling)."""
    if not 0 <= index < len(levels[0]):
        raise IndexError(f"leaf {index} outside a tree of {len(levels[0])} leaves")
    path = []
    for level in levels[:-1]:
        sibling = index ^ 1
        path.append(level[sibling] if sibling < len(level) else 0)
        index >>= 1
    return path


def root_from_path(leaf: int, index: int, n_leaves: int, path: Sequence[int]) -> int:
    """Recompute the root from a leaf, its index, the tree's leaf count and its path."""
    if not 0 <= index < n_leaves:
        raise IndexError(f"leaf {index} outside a tree of {n_leaves} leaves")
    node, size = leaf, n_leaves
    for depth, sibling in enumerate(path):
        flag = KEY_BOTTOM if depth == 0 else KEY_NONE
        if index & 1:
            node = compress(sibling, node, flag)
        elif index == size - 1:
            node = compress(node, 0, flag | KEY_ODD)
        else:
            node = compress(node, sibling, flag)
        index >>= 1
        size = (size + 1) >> 1
    return node
