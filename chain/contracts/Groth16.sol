// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice BN254 point and proof types of the Codex marketplace ABI (MARKETPLACE_ABI.md §1, §11).
/// @dev Field order is the ABI tuple order: a proof is 8 static words
///      a.x, a.y, b.x.real, b.x.imag, b.y.real, b.y.imag, c.x, c.y.
struct G1Point {
  uint256 x;
  uint256 y;
}

struct Fp2Element {
  uint256 real;
  uint256 imag;
}

struct G2Point {
  Fp2Element x;
  Fp2Element y;
}

struct Groth16Proof {
  G1Point a;
  G2Point b;
  G1Point c;
}

/// @notice The verifier the marketplace checks storage proofs with.
interface IGroth16Verifier {
  function verify(
    Groth16Proof calldata proof,
    uint256[] calldata pubSignals
  ) external view returns (bool);
}
