"""The native Poseidon2 hot path with the same integer interface as `reference`.

`proofs.poseidon2._native` is a small C extension built at install time (setup.py); this module
converts between Python integers and its 32-byte little-endian field elements. The tests check
every function here against `proofs.poseidon2.reference` on the reference's vectors and on
random inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

try:
    from proofs.poseidon2 import _native  # type: ignore[attr-defined]
except ImportError as e:  # pragma: no cover - only on an install that skipped the build
    raise ImportError(
        "proofs.poseidon2._native is not built: reinstall the project with `make install` or "
        "`pip install -e .` (needs a C compiler), or run `python setup.py build_ext --inplace`"
    ) from e

from proofs.poseidon2.reference import FieldElementError, State

ELEM = 32


def to_bytes(values: Sequence[int]) -> bytes:
    """Field elements as concatenated 32-byte little-endian words (values must be < R)."""
    try:
        return b"".join(v.to_bytes(ELEM, "little") for v in values)
    except OverflowError as e:
        raise FieldElementError(f"value out of range: {e}") from e


def from_bytes(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + ELEM], "little") for i in range(0, len(data), ELEM)]


def _call(fn: object, *args: object) -> bytes:
    try:
        return fn(*args)  # type: ignore[operator,no-any-return]
    except ValueError as e:
        raise FieldElementError(str(e)) from e


def permutation(state: State) -> State:
    x, y, z = from_bytes(_call(_native.permute, to_bytes(state)))
    return x, y, z


def compress(x: int, y: int, key: int = 0) -> int:
    return int.from_bytes(_call(_native.compress, to_bytes([x]), to_bytes([y]), key), "little")


def sponge(elements: Sequence[int], rate: int = 2) -> int:
    return int.from_bytes(_call(_native.sponge, to_bytes(elements), rate), "little")


def hash_bytes(data: bytes) -> int:
    return int.from_bytes(_native.hash_bytes(data), "little")


def hash_cells_raw(data: bytes | memoryview, cell_bytes: int) -> bytes:
    """One 32-byte hash per cell of `data` (a whole number of cells)."""
    return _native.hash_cells(data, cell_bytes)  # type: ignore[no-any-return]


def hash_cells(data: bytes | memoryview, cell_bytes: int) -> list[int]:
    return from_bytes(hash_cells_raw(data, cell_bytes))


def block_hashes_raw(data: bytes | memoryview, block_bytes: int, cell_bytes: int) -> bytes:
    """One 32-byte block hash (Merkle root of its cell hashes) per block of `data`."""
    return _native.block_hashes(data, block_bytes, cell_bytes)  # type: ignore[no-any-return]


def merkle_layer_raw(nodes: bytes, bottom: bool) -> bytes:
    return _call(_native.merkle_layer, nodes, bottom)


def merkle_layer(nodes: Sequence[int], bottom: bool) -> list[int]:
    return from_bytes(merkle_layer_raw(to_bytes(nodes), bottom))


def merkle_root_raw(nodes: bytes) -> bytes:
    return _call(_native.merkle_root, nodes)


def merkle_root(leaves: Sequence[int]) -> int:
    return int.from_bytes(merkle_root_raw(to_bytes(leaves)), "little")


def merkle_levels(leaves: Sequence[int]) -> list[list[int]]:
    """As reference.merkle_levels: all layers bottom-up, the last being [root]."""
    if not leaves:
        raise ValueError("the Merkle root of no leaves is not defined")
    levels = [list(leaves)]
    if len(leaves) == 1:
        levels.append([compress(leaves[0], 0, 3)])
        return levels
    layer = to_bytes(leaves)
    while len(layer) > ELEM:
        layer = merkle_layer_raw(layer, len(levels) == 1)
        levels.append(from_bytes(layer))
    return levels
