"""The native Poseidon2 hot path with the same integer interface as `reference`.

`proofs.poseidon2._native` is a small C extension built at install time (setup.py); this module
converts between Python integers and its 32-byte little-endian field elements. Without the
extension (a checkout nobody built) everything still works, on the reference, with a warning:
the project stays importable, only slow. The tests check
every function here against `proofs.poseidon2.reference` on the reference's vectors and on
random inputs.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

from proofs.poseidon2 import reference
from proofs.poseidon2.reference import FieldElementError, State

log = logging.getLogger(__name__)

_native: Any
try:
    from proofs.poseidon2 import _native  # type: ignore[attr-defined,no-redef]
except ImportError:  # pragma: no cover - only on a checkout whose extension is not built
    _native = None
    warnings.warn(
        "proofs.poseidon2._native is not built: Poseidon2 runs in pure Python (~1000x slower). "
        "Build it with `make install`, `pip install -e .` or `python setup.py build_ext "
        "--inplace` (needs a C compiler).",
        RuntimeWarning,
        stacklevel=2,
    )

NATIVE = _native is not None
"""False when the extension is missing: every function below then uses the reference."""

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
    if _native is None:
        return reference.permutation(state)
    x, y, z = from_bytes(_call(_native.permute, to_bytes(state)))
    return x, y, z


def permutations(states: Sequence[State]) -> list[State]:
    """The permutation of each state; batches of 16 take the AVX-512 path where there is one."""
    out = from_bytes(permute_many_raw(to_bytes([v for s in states for v in s])))
    return [(out[i], out[i + 1], out[i + 2]) for i in range(0, len(out), 3)]


def permute_many_raw(states: bytes) -> bytes:
    """`permutations` on concatenated 96-byte little-endian states, without int conversions."""
    if _native is None:
        e = from_bytes(states)
        if len(e) % 3:
            raise FieldElementError("states are 3 field elements each")
        return to_bytes(
            [
                v
                for i in range(0, len(e), 3)
                for v in reference.permutation((e[i], e[i + 1], e[i + 2]))
            ]
        )
    return _call(_native.permute_many, states)


def simd(enabled: bool | None = None) -> bool:
    """Whether the native code uses its AVX-512 IFMA path (16 states in lockstep); `enabled`
    switches it (on only where the CPU has it). Both paths give the same bits; tests and the
    benchmark compare them. POSEIDON2_NO_SIMD=1 in the environment starts with it off."""
    if _native is None:
        return False
    return bool(_native.simd(-1 if enabled is None else int(enabled)))


def compress(x: int, y: int, key: int = 0) -> int:
    if _native is None:
        return reference.compress(x, y, key)
    return int.from_bytes(_call(_native.compress, to_bytes([x]), to_bytes([y]), key), "little")


def sponge(elements: Sequence[int], rate: int = 2) -> int:
    if _native is None:
        return reference.sponge(elements, rate)
    return int.from_bytes(_call(_native.sponge, to_bytes(elements), rate), "little")


def hash_bytes(data: bytes) -> int:
    if _native is None:
        return reference.hash_bytes(bytes(data))
    return int.from_bytes(_native.hash_bytes(data), "little")


def hash_cells_raw(data: bytes | memoryview, cell_bytes: int) -> bytes:
    """One 32-byte hash per cell of `data` (a whole number of cells)."""
    if _native is None:
        raw = bytes(data)
        if len(raw) % cell_bytes:
            raise ValueError("data must be a whole number of cells")
        cells = [raw[i : i + cell_bytes] for i in range(0, len(raw), cell_bytes)]
        return to_bytes([reference.hash_bytes(c) for c in cells])
    return _native.hash_cells(data, cell_bytes)  # type: ignore[no-any-return]


def hash_cells(data: bytes | memoryview, cell_bytes: int) -> list[int]:
    return from_bytes(hash_cells_raw(data, cell_bytes))


def block_hashes_raw(data: bytes | memoryview, block_bytes: int, cell_bytes: int) -> bytes:
    """One 32-byte block hash (Merkle root of its cell hashes) per block of `data`."""
    if _native is None:
        raw = bytes(data)
        if len(raw) % block_bytes:
            raise ValueError("data must be whole blocks of whole cells")
        return to_bytes(
            [
                reference.merkle_root(
                    from_bytes(hash_cells_raw(raw[i : i + block_bytes], cell_bytes))
                )
                for i in range(0, len(raw), block_bytes)
            ]
        )
    return _native.block_hashes(data, block_bytes, cell_bytes)  # type: ignore[no-any-return]


def merkle_layer_raw(nodes: bytes, bottom: bool) -> bytes:
    if _native is None:
        return to_bytes(reference.merkle_layer(from_bytes(nodes), bottom))
    return _call(_native.merkle_layer, nodes, bottom)


def merkle_layer(nodes: Sequence[int], bottom: bool) -> list[int]:
    return from_bytes(merkle_layer_raw(to_bytes(nodes), bottom))


def merkle_root_raw(nodes: bytes) -> bytes:
    if _native is None:
        return to_bytes([reference.merkle_root(from_bytes(nodes))])
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
