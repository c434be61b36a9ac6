"""Codex's circuit input for a slot stored in Codex's layout, read from the block store.

Uses what onStore kept beside the data (meta.json's slot roots and slot root, the block-hash
file) and reads only the sampled 64 KiB blocks, so a proof costs a few block reads and hashes,
never a pass over the slot.
"""

from __future__ import annotations

from typing import Any

from proofs.poseidon2.circuit_input import CircuitParams, circuit_input
from proofs.poseidon2.layout import BLOCK_BYTES, LayoutError, SlotTree
from proofs.public_inputs import entropy_from_challenge
from store.blockstore import BlockStore


def stored_slot_tree(store: BlockStore, key: str) -> SlotTree:
    """The slot tree from the stored block hashes (checked against the verified slot root)."""
    meta = store.require_meta(key)
    if meta.layout != "codex" or not meta.complete or meta.slot_root is None:
        raise LayoutError(f"slot {key} is not a complete, verified Codex-layout slot")
    raw = store.read_block_hashes(key)
    data_blocks = -(-meta.slot_size // BLOCK_BYTES)
    if len(raw) < 32 * data_blocks:
        raise LayoutError(f"slot {key}: {len(raw) // 32} block hashes for {data_blocks} blocks")
    hashes = [int.from_bytes(raw[32 * i : 32 * i + 32], "little") for i in range(data_blocks)]
    tree = SlotTree.from_block_hashes(hashes)
    if str(tree.root) != meta.slot_root:
        raise LayoutError(f"slot {key}: stored block hashes do not give the verified slot root")
    return tree


def stored_circuit_input(
    store: BlockStore, key: str, challenge: bytes, params: CircuitParams
) -> dict[str, Any]:
    """The circuit input for the stored slot `key` and a 32-byte challenge."""
    meta = store.require_meta(key)
    tree = stored_slot_tree(store, key)
    if meta.slot_roots is None:
        raise LayoutError(f"slot {key} has no dataset commitment")

    def read_block(b: int) -> bytes:
        start = b * BLOCK_BYTES
        if start >= meta.slot_size:
            return b""  # a padding block: zeros
        return store.read_at(key, start, min(BLOCK_BYTES, meta.slot_size - start))

    return circuit_input(
        params,
        entropy_from_challenge(challenge),
        meta.slot_index,
        [int(r) for r in meta.slot_roots],
        tree,
        read_block,
    )
