// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Storage request and slot types of the Codex marketplace (MARKETPLACE_ABI.md §1-§2).
type RequestId is bytes32;
type SlotId is bytes32;

struct Request {
  address client;
  Ask ask;
  Content content;
  uint64 expiry; // seconds after creation at which an unfilled request expires
  bytes32 nonce;
}

struct Ask {
  uint256 proofProbability;
  uint256 pricePerBytePerSecond;
  uint256 collateralPerByte;
  uint64 slots;
  uint64 slotSize;
  uint64 duration;
  uint64 maxSlotLoss;
}

struct Content {
  bytes cid;
  bytes32 merkleRoot;
}

enum RequestState {
  New,
  Started,
  Cancelled,
  Finished,
  Failed
}

enum SlotState {
  Free,
  Filled,
  Finished,
  Failed,
  Paid,
  Cancelled,
  Repair
}

/// @dev Identifier derivation and per-slot money shorthands (§2, §10).
library Requests {
  function id(Request memory request) internal pure returns (RequestId) {
    return RequestId.wrap(keccak256(abi.encode(request)));
  }

  function slotId(RequestId requestId, uint64 slotIndex) internal pure returns (SlotId) {
    return SlotId.wrap(keccak256(abi.encode(requestId, slotIndex)));
  }

  function pricePerSlotPerSecond(Ask memory ask) internal pure returns (uint256) {
    return ask.pricePerBytePerSecond * ask.slotSize;
  }

  function collateralPerSlot(Ask memory ask) internal pure returns (uint256) {
    return ask.collateralPerByte * ask.slotSize;
  }

  function maxPrice(Ask memory ask) internal pure returns (uint256) {
    return ask.slots * ask.duration * pricePerSlotPerSecond(ask);
  }
}
