// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Byte-order helpers for turning hashes into circuit public inputs (§11).
abstract contract Endian {
  function _byteSwap(bytes32 input) internal pure returns (bytes32 output) {
    for (uint256 i = 0; i < 32; i++) {
      output |= bytes32(uint256(uint8(input[i])) << (8 * i));
    }
  }
}
