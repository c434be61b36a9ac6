// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./Groth16.sol";

/// @notice Groth16 verifying key; `ic` has one point more than there are public inputs.
struct VerifyingKey {
  G1Point alpha1;
  G2Point beta2;
  G2Point gamma2;
  G2Point delta2;
  G1Point[] ic;
}

/// @notice Groth16 verifier over BN254 through the precompiles 0x06 (add), 0x07 (mul) and
///         0x08 (pairing), with the verifying key fixed at construction (MARKETPLACE_ABI.md §11).
/// @dev Never reverts on a bad proof: malformed points or inputs make `verify` return false, so
///      the marketplace reports them as Proofs_InvalidProof.
contract Groth16Verifier is IGroth16Verifier {
  /// BN254 base field modulus.
  uint256 private constant _P =
    21888242871839275222246405745257275088696311157297823662689037894645226208583;
  /// BN254 scalar field modulus: public inputs must be below it.
  uint256 private constant _R =
    21888242871839275222246405745257275088548364400416034343698204186575808495617;

  G1Point private _alpha1;
  G2Point private _beta2;
  G2Point private _gamma2;
  G2Point private _delta2;
  G1Point[] private _ic;

  constructor(VerifyingKey memory key) {
    _alpha1 = key.alpha1;
    _beta2 = key.beta2;
    _gamma2 = key.gamma2;
    _delta2 = key.delta2;
    for (uint256 i = 0; i < key.ic.length; i++) {
      _ic.push(key.ic[i]);
    }
  }

  function verify(
    Groth16Proof calldata proof,
    uint256[] calldata pubSignals
  ) external view returns (bool) {
    if (pubSignals.length + 1 != _ic.length) {
      return false;
    }
    G1Point memory vkX = _ic[0];
    for (uint256 i = 0; i < pubSignals.length; i++) {
      if (pubSignals[i] >= _R) {
        return false;
      }
      (bool mulOk, G1Point memory term) = _multiply(_ic[i + 1], pubSignals[i]);
      if (!mulOk) {
        return false;
      }
      bool addOk;
      (addOk, vkX) = _add(vkX, term);
      if (!addOk) {
        return false;
      }
    }
    // e(-A, B) * e(alpha1, beta2) * e(vk_x, gamma2) * e(C, delta2) == 1
    uint256[24] memory input;
    _putPair(input, 0, _negate(proof.a), proof.b);
    _putPair(input, 1, _alpha1, _beta2);
    _putPair(input, 2, vkX, _gamma2);
    _putPair(input, 3, proof.c, _delta2);
    uint256[1] memory out;
    bool success;
    assembly {
      success := staticcall(gas(), 0x08, input, 768, out, 32)
    }
    return success && out[0] == 1;
  }

  /// @dev EIP-197 wants each Fp2 coordinate as (imag, real).
  function _putPair(
    uint256[24] memory input,
    uint256 index,
    G1Point memory g1,
    G2Point memory g2
  ) private pure {
    uint256 at = index * 6;
    input[at] = g1.x;
    input[at + 1] = g1.y;
    input[at + 2] = g2.x.imag;
    input[at + 3] = g2.x.real;
    input[at + 4] = g2.y.imag;
    input[at + 5] = g2.y.real;
  }

  function _negate(G1Point memory point) private pure returns (G1Point memory) {
    if (point.x == 0 && point.y == 0) {
      return point;
    }
    return G1Point(point.x, _P - (point.y % _P));
  }

  function _add(
    G1Point memory a,
    G1Point memory b
  ) private view returns (bool success, G1Point memory sum) {
    uint256[4] memory input = [a.x, a.y, b.x, b.y];
    assembly {
      success := staticcall(gas(), 0x06, input, 128, sum, 64)
    }
  }

  function _multiply(
    G1Point memory point,
    uint256 scalar
  ) private view returns (bool success, G1Point memory product) {
    uint256[3] memory input = [point.x, point.y, scalar];
    assembly {
      success := staticcall(gas(), 0x07, input, 96, product, 64)
    }
  }
}
