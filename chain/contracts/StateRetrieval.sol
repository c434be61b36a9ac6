// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./Requests.sol";

/// @notice Per-account sets of requests (client) and slots (host) (MARKETPLACE_ABI.md §3).
abstract contract StateRetrieval {
  struct Bytes32Set {
    bytes32[] values;
    mapping(bytes32 => uint256) positions; // index + 1; 0 = absent
  }

  mapping(address => Bytes32Set) private _requestsPerClient;
  mapping(address => Bytes32Set) private _slotsPerHost;

  function myRequests() public view returns (RequestId[] memory ids) {
    bytes32[] storage values = _requestsPerClient[msg.sender].values;
    ids = new RequestId[](values.length);
    for (uint256 i = 0; i < values.length; i++) {
      ids[i] = RequestId.wrap(values[i]);
    }
  }

  function mySlots() public view returns (SlotId[] memory ids) {
    bytes32[] storage values = _slotsPerHost[msg.sender].values;
    ids = new SlotId[](values.length);
    for (uint256 i = 0; i < values.length; i++) {
      ids[i] = SlotId.wrap(values[i]);
    }
  }

  function _addToMyRequests(address client, RequestId requestId) internal {
    _add(_requestsPerClient[client], RequestId.unwrap(requestId));
  }

  function _addToMySlots(address host, SlotId slotId) internal {
    _add(_slotsPerHost[host], SlotId.unwrap(slotId));
  }

  function _removeFromMyRequests(address client, RequestId requestId) internal {
    _remove(_requestsPerClient[client], RequestId.unwrap(requestId));
  }

  function _removeFromMySlots(address host, SlotId slotId) internal {
    _remove(_slotsPerHost[host], SlotId.unwrap(slotId));
  }

  function _add(Bytes32Set storage set, bytes32 value) private {
    if (set.positions[value] != 0) {
      return;
    }
    set.values.push(value);
    set.positions[value] = set.values.length;
  }

  function _remove(Bytes32Set storage set, bytes32 value) private {
    uint256 position = set.positions[value];
    if (position == 0) {
      return;
    }
    uint256 last = set.values.length;
    if (position != last) {
      bytes32 moved = set.values[last - 1];
      set.values[position - 1] = moved;
      set.positions[moved] = position;
    }
    set.values.pop();
    delete set.positions[value];
  }
}
