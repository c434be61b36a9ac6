// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Minimal ERC-20 for development networks: anyone may mint. Payment and collateral of
///         the development marketplace are held in it.
contract TestToken {
  string public constant name = "TestToken";
  string public constant symbol = "TST";
  uint8 public constant decimals = 18;

  uint256 public totalSupply;
  mapping(address => uint256) public balanceOf;
  mapping(address => mapping(address => uint256)) public allowance;

  event Transfer(address indexed from, address indexed to, uint256 value);
  event Approval(address indexed owner, address indexed spender, uint256 value);

  error TestToken_InsufficientBalance();
  error TestToken_InsufficientAllowance();
  error TestToken_InvalidReceiver();

  function mint(address holder, uint256 amount) external {
    if (holder == address(0)) revert TestToken_InvalidReceiver();
    totalSupply += amount;
    balanceOf[holder] += amount;
    emit Transfer(address(0), holder, amount);
  }

  function approve(address spender, uint256 amount) external returns (bool) {
    allowance[msg.sender][spender] = amount;
    emit Approval(msg.sender, spender, amount);
    return true;
  }

  function transfer(address to, uint256 amount) external returns (bool) {
    _move(msg.sender, to, amount);
    return true;
  }

  function transferFrom(address from, address to, uint256 amount) external returns (bool) {
    uint256 allowed = allowance[from][msg.sender];
    if (allowed != type(uint256).max) {
      if (allowed < amount) revert TestToken_InsufficientAllowance();
      allowance[from][msg.sender] = allowed - amount;
    }
    _move(from, to, amount);
    return true;
  }

  function _move(address from, address to, uint256 amount) private {
    if (to == address(0)) revert TestToken_InvalidReceiver();
    uint256 balance = balanceOf[from];
    if (balance < amount) revert TestToken_InsufficientBalance();
    balanceOf[from] = balance - amount;
    balanceOf[to] += amount;
    emit Transfer(from, to, amount);
  }
}
