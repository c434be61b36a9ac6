// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Time divided into fixed-length proof periods (MARKETPLACE_ABI.md §8).
abstract contract Periods {
  error Periods_InvalidSecondsPerPeriod();

  type Period is uint64;

  uint64 internal immutable _secondsPerPeriod;

  constructor(uint64 secondsPerPeriod) {
    if (secondsPerPeriod == 0) revert Periods_InvalidSecondsPerPeriod();
    _secondsPerPeriod = secondsPerPeriod;
  }

  function _periodOf(uint256 timestamp) internal view returns (Period) {
    return Period.wrap(uint64(timestamp / _secondsPerPeriod));
  }

  function _blockPeriod() internal view returns (Period) {
    return _periodOf(block.timestamp);
  }

  function _periodEnd(Period period) internal view returns (uint256) {
    return (uint256(Period.unwrap(period)) + 1) * _secondsPerPeriod;
  }

  function _isAfter(Period a, Period b) internal pure returns (bool) {
    return Period.unwrap(a) > Period.unwrap(b);
  }
}
