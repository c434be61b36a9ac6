// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice The part of ERC-20 the marketplace uses.
interface IERC20 {
  function transfer(address to, uint256 amount) external returns (bool);

  function transferFrom(address from, address to, uint256 amount) external returns (bool);

  function balanceOf(address holder) external view returns (uint256);
}
