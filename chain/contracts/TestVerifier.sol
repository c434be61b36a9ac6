// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./Groth16.sol";

/// @notice Development verifier: accepts every proof except the all-zero one, so hosts can run
///         without a prover while a zero proof still simulates a proof failure (as Codex's).
contract TestVerifier is IGroth16Verifier {
  function verify(
    Groth16Proof calldata proof,
    uint256[] calldata
  ) external pure returns (bool) {
    return
      proof.a.x != 0 ||
      proof.a.y != 0 ||
      proof.b.x.real != 0 ||
      proof.b.x.imag != 0 ||
      proof.b.y.real != 0 ||
      proof.b.y.imag != 0 ||
      proof.c.x != 0 ||
      proof.c.y != 0;
  }
}
