// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./Configuration.sol";
import "./Requests.sol";

/// @notice Per-slot reservations (MARKETPLACE_ABI.md §9), plus the optional dispersal window of
///         ARCHITECTURE.md §5: a host may only reserve once the XOR distance between the slot id
///         and keccak256(host) fits in a number of bits that grows from initialBits to 256 over
///         windowPercent % of the request's expiry. The integer formula is exactly the one in
///         sales/dispersal.py; initialBits >= 256 turns the window off (plain Codex behaviour).
abstract contract SlotReservations {
  error SlotReservations_ReservationNotAllowed();

  event SlotReservationsFull(RequestId indexed requestId, uint64 slotIndex);

  uint256 private constant _FULL_BITS = 256;

  uint8 private immutable _maxReservations;
  uint16 private immutable _initialBits;
  uint16 private immutable _windowPercent;

  /// @dev At most maxReservations (<= 255) members, so a linear scan is cheap and a delete clears.
  mapping(SlotId => address[]) internal _reservations;

  constructor(SlotReservationsConfig memory config, DispersalWindow memory dispersal) {
    _maxReservations = config.maxReservations;
    _initialBits = dispersal.initialBits;
    _windowPercent = dispersal.windowPercent;
  }

  function slotState(SlotId id) public view virtual returns (SlotState);

  /// @dev When the slot's window opened and the relative expiry of its request.
  function _dispersalOrigin(
    RequestId requestId,
    SlotId slotId
  ) internal view virtual returns (uint256 start, uint256 expiry);

  function reserveSlot(RequestId requestId, uint64 slotIndex) public {
    if (!canReserveSlot(requestId, slotIndex)) revert SlotReservations_ReservationNotAllowed();
    SlotId slotId = Requests.slotId(requestId, slotIndex);
    _reservations[slotId].push(msg.sender);
    if (_reservations[slotId].length == _maxReservations) {
      emit SlotReservationsFull(requestId, slotIndex);
    }
  }

  function canReserveSlot(RequestId requestId, uint64 slotIndex) public view returns (bool) {
    SlotId slotId = Requests.slotId(requestId, slotIndex);
    SlotState state = slotState(slotId);
    return
      (state == SlotState.Free || state == SlotState.Repair) &&
      _reservations[slotId].length < _maxReservations &&
      !_hasReservation(slotId, msg.sender) &&
      _isDispersalEligible(requestId, slotId, msg.sender);
  }

  /// @notice The dispersal window settings (development extension; not in Codex's ABI).
  function dispersalWindow() public view returns (DispersalWindow memory) {
    return DispersalWindow(_initialBits, _windowPercent);
  }

  /// @notice How many low bits of the XOR distance may be set right now for this slot
  ///         (256 = anyone). Development extension; not in Codex's ABI.
  function dispersalAllowedBits(RequestId requestId, uint64 slotIndex) public view returns (uint256) {
    return _allowedBits(requestId, Requests.slotId(requestId, slotIndex));
  }

  function _hasReservation(SlotId slotId, address host) internal view returns (bool) {
    address[] storage members = _reservations[slotId];
    for (uint256 i = 0; i < members.length; i++) {
      if (members[i] == host) {
        return true;
      }
    }
    return false;
  }

  function _allowedBits(RequestId requestId, SlotId slotId) private view returns (uint256) {
    if (_initialBits >= _FULL_BITS) {
      return _FULL_BITS;
    }
    (uint256 start, uint256 expiry) = _dispersalOrigin(requestId, slotId);
    uint256 windowSeconds = (expiry * _windowPercent) / 100;
    if (windowSeconds == 0) {
      return _FULL_BITS;
    }
    uint256 elapsed = block.timestamp > start ? block.timestamp - start : 0;
    uint256 grown = _initialBits + (elapsed * (_FULL_BITS - _initialBits)) / windowSeconds;
    return grown < _FULL_BITS ? grown : _FULL_BITS;
  }

  function _isDispersalEligible(
    RequestId requestId,
    SlotId slotId,
    address host
  ) private view returns (bool) {
    uint256 bits = _allowedBits(requestId, slotId);
    if (bits >= _FULL_BITS) {
      return true;
    }
    uint256 distance = uint256(SlotId.unwrap(slotId)) ^
      uint256(keccak256(abi.encodePacked(host)));
    return distance >> bits == 0; // distance < 2**bits without overflowing 2**256
  }
}
