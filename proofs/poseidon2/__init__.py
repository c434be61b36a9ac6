"""Codex's storage-proof commitments: Poseidon2 over BN254 (t = 3) and Codex's slot layout.

- `constants`: the round constants (data from Codex's reference);
- `reference`: pure-Python permutation, keyed compression, sponge, bytes to field elements and
  Merkle trees with Codex's conventions: the specification the tests hold the native code to;
- `fast`: the same functions on the native extension `_native` (C, built at install time);
- `layout`: cells, blocks, slot and dataset trees, and the sampler.
"""
