// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./Configuration.sol";
import "./Requests.sol";
import "./Groth16.sol";
import "./IERC20.sol";
import "./Periods.sol";
import "./Proofs.sol";
import "./SlotReservations.sol";
import "./StateRetrieval.sol";
import "./Endian.sol";

/// @title Development marketplace speaking the Codex marketplace ABI
/// @notice Our own implementation of the interface and rules of Codex's Marketplace
///         (MARKETPLACE_ABI.md §3-§11): storage requests split into slots, reservations,
///         periodic storage proofs, slashing, repair and payouts in an ERC-20 token.
///         Function, event and error signatures are identical to Codex's, so selectors and
///         topics match; the Vault (§12) is not part of it.
/// @dev Deviations from Codex, all for development networks:
///      - The constructor takes ONE extra trailing argument `DispersalWindow dispersal`
///        (uint16 initialBits, uint16 windowPercent). initialBits >= 256 switches it off and
///        gives exactly Codex's reservation rule; otherwise canReserveSlot also requires the
///        dispersal eligibility of ARCHITECTURE.md §5 (see SlotReservations).
///      - requestStorage accepts slotSize == 0, as Codex does (checked on a deployed Codex
///        marketplace): hosts must cope with such requests, so the development chain posts them
///        too. The host's validation gate refuses them (sales/validation.py).
///      - Extra views: challengeToFieldElement, merkleRootToFieldElement (Codex's
///        TestMarketplace helpers), dispersalWindow, dispersalAllowedBits, dispersalStart.
contract Marketplace is SlotReservations, Proofs, StateRetrieval, Endian {
  using Requests for Request;
  using Requests for Ask;

  error Marketplace_RepairRewardPercentageTooHigh();
  error Marketplace_SlashPercentageTooHigh();
  error Marketplace_MaximumSlashingTooHigh();
  error Marketplace_InvalidExpiry();
  error Marketplace_InvalidMaxSlotLoss();
  error Marketplace_InsufficientSlots();
  error Marketplace_InsufficientDuration();
  error Marketplace_InsufficientProofProbability();
  error Marketplace_InsufficientCollateral();
  error Marketplace_InsufficientReward();
  error Marketplace_InvalidClientAddress();
  error Marketplace_RequestAlreadyExists();
  error Marketplace_InvalidSlot();
  error Marketplace_InvalidCid();
  error Marketplace_SlotNotFree();
  error Marketplace_InvalidSlotHost();
  error Marketplace_AlreadyPaid();
  error Marketplace_TransferFailed();
  error Marketplace_UnknownRequest();
  error Marketplace_InvalidState();
  error Marketplace_StartNotBeforeExpiry();
  error Marketplace_SlotNotAcceptingProofs();
  error Marketplace_ProofNotSubmittedByHost();
  error Marketplace_SlotIsFree();
  error Marketplace_ReservationRequired();
  error Marketplace_NothingToWithdraw();
  error Marketplace_DurationExceedsLimit();

  event StorageRequested(RequestId requestId, Ask ask, uint64 expiry);
  event RequestFulfilled(RequestId indexed requestId);
  event RequestFailed(RequestId indexed requestId);
  event SlotFilled(RequestId indexed requestId, uint64 slotIndex);
  event SlotFreed(RequestId indexed requestId, uint64 slotIndex);
  event RequestCancelled(RequestId indexed requestId);

  struct RequestContext {
    RequestState state;
    uint256 fundsToReturnToClient; // what withdrawFunds will send back
    uint64 slotsFilled;
    uint64 startedAt;
    uint64 endsAt;
    uint64 expiresAt;
  }

  struct Slot {
    SlotState state;
    RequestId requestId;
    uint64 filledAt;
    uint64 slotIndex;
    uint256 currentCollateral; // full per-slot collateral minus slashes
    address host;
  }

  /// @notice A filled (or repairing) slot together with its request.
  struct ActiveSlot {
    Request request;
    uint64 slotIndex;
  }

  struct MarketplaceTotals {
    uint256 received;
    uint256 sent;
  }

  MarketplaceConfig private _config;
  IERC20 private immutable _token;

  mapping(RequestId => Request) private _requests;
  mapping(RequestId => RequestContext) internal _requestContexts;
  mapping(SlotId => Slot) internal _slots;
  /// @dev Block time at which a slot was last forcibly freed: its dispersal window restarts.
  mapping(SlotId => uint64) private _freedAt;
  MarketplaceTotals private _marketplaceTotals;

  modifier requestIsKnown(RequestId requestId) {
    if (_requests[requestId].client == address(0)) revert Marketplace_UnknownRequest();
    _;
  }

  modifier slotIsNotFree(SlotId slotId) {
    if (_slots[slotId].state == SlotState.Free) revert Marketplace_SlotIsFree();
    _;
  }

  constructor(
    MarketplaceConfig memory config,
    IERC20 token_,
    IGroth16Verifier verifier,
    DispersalWindow memory dispersal
  ) SlotReservations(config.reservations, dispersal) Proofs(config.proofs, verifier) {
    _token = token_;
    if (config.collateral.repairRewardPercentage > 100) {
      revert Marketplace_RepairRewardPercentageTooHigh();
    }
    if (config.collateral.slashPercentage > 100) revert Marketplace_SlashPercentageTooHigh();
    if (config.collateral.maxNumberOfSlashes * config.collateral.slashPercentage > 100) {
      revert Marketplace_MaximumSlashingTooHigh();
    }
    _config = config;
  }

  function configuration() public view returns (MarketplaceConfig memory) {
    return _config;
  }

  function token() public view returns (IERC20) {
    return _token;
  }

  function currentCollateral(SlotId slotId) public view returns (uint256) {
    return _slots[slotId].currentCollateral;
  }

  function requestStorage(Request calldata request) public {
    if (request.client != msg.sender) revert Marketplace_InvalidClientAddress();
    RequestId id = Requests.id(request);
    if (_requests[id].client != address(0)) revert Marketplace_RequestAlreadyExists();
    if (request.expiry == 0 || request.expiry >= request.ask.duration) {
      revert Marketplace_InvalidExpiry();
    }
    if (request.ask.slots == 0) revert Marketplace_InsufficientSlots();
    if (request.ask.maxSlotLoss > request.ask.slots) revert Marketplace_InvalidMaxSlotLoss();
    if (request.ask.duration == 0) revert Marketplace_InsufficientDuration();
    if (request.ask.proofProbability == 0) revert Marketplace_InsufficientProofProbability();
    if (request.ask.collateralPerByte == 0) revert Marketplace_InsufficientCollateral();
    if (request.ask.pricePerBytePerSecond == 0) revert Marketplace_InsufficientReward();
    if (request.content.cid.length == 0) revert Marketplace_InvalidCid();
    if (request.ask.duration > _config.requestDurationLimit) {
      revert Marketplace_DurationExceedsLimit();
    }

    _requests[id] = request;
    RequestContext storage context = _requestContexts[id];
    context.endsAt = uint64(block.timestamp) + request.ask.duration;
    context.expiresAt = uint64(block.timestamp) + request.expiry;
    _addToMyRequests(request.client, id);

    uint256 amount = request.ask.maxPrice();
    context.fundsToReturnToClient = amount;
    _marketplaceTotals.received += amount;
    _transferFrom(msg.sender, amount);

    emit StorageRequested(id, request.ask, context.expiresAt);
  }

  function fillSlot(
    RequestId requestId,
    uint64 slotIndex,
    Groth16Proof calldata proof
  ) public requestIsKnown(requestId) {
    Request storage request = _requests[requestId];
    if (slotIndex >= request.ask.slots) revert Marketplace_InvalidSlot();
    SlotId slotId = Requests.slotId(requestId, slotIndex);
    if (!_hasReservation(slotId, msg.sender)) revert Marketplace_ReservationRequired();

    Slot storage slot = _slots[slotId];
    slot.requestId = requestId;
    slot.slotIndex = slotIndex;
    SlotState state = slotState(slotId);
    if (state != SlotState.Free && state != SlotState.Repair) revert Marketplace_SlotNotFree();

    slot.host = msg.sender;
    slot.filledAt = uint64(block.timestamp);
    _startRequiringProofs(slotId);
    submitProof(slotId, proof);

    RequestContext storage context = _requestContexts[requestId];
    context.slotsFilled += 1;
    context.fundsToReturnToClient -= _slotPayout(requestId, slot.filledAt);

    uint256 collateralPerSlot = request.ask.collateralPerSlot();
    uint256 collateralAmount = collateralPerSlot;
    if (state == SlotState.Repair) {
      // The repair reward is a discount on the collateral the repairing host puts up.
      collateralAmount -= (collateralPerSlot * _config.collateral.repairRewardPercentage) / 100;
    }
    _transferFrom(msg.sender, collateralAmount);
    _marketplaceTotals.received += collateralAmount;
    slot.currentCollateral = collateralPerSlot;

    _addToMySlots(slot.host, slotId);
    slot.state = SlotState.Filled;
    emit SlotFilled(requestId, slotIndex);

    if (context.slotsFilled == request.ask.slots && context.state == RequestState.New) {
      context.state = RequestState.Started;
      context.startedAt = uint64(block.timestamp);
      emit RequestFulfilled(requestId);
    }
  }

  function freeSlot(SlotId slotId) public {
    freeSlot(slotId, msg.sender, msg.sender);
  }

  function freeSlot(
    SlotId slotId,
    address rewardRecipient,
    address collateralRecipient
  ) public slotIsNotFree(slotId) {
    Slot storage slot = _slots[slotId];
    if (slot.host != msg.sender) revert Marketplace_InvalidSlotHost();

    SlotState state = slotState(slotId);
    if (state == SlotState.Paid) revert Marketplace_AlreadyPaid();

    if (state == SlotState.Finished) {
      _payoutSlot(slot.requestId, slotId, rewardRecipient, collateralRecipient);
    } else if (state == SlotState.Cancelled) {
      _payoutCancelledSlot(slot.requestId, slotId, rewardRecipient, collateralRecipient);
    } else if (state == SlotState.Failed) {
      _removeFromMySlots(msg.sender, slotId);
    } else if (state == SlotState.Filled) {
      // Leaving a running request forfeits the whole collateral.
      _forciblyFreeSlot(slotId);
    }
  }

  function submitProof(
    SlotId id,
    Groth16Proof calldata proof
  ) public requestIsKnown(_slots[id].requestId) {
    Slot storage slot = _slots[id];
    Request storage request = _requests[slot.requestId];
    if (slot.host != msg.sender) revert Marketplace_ProofNotSubmittedByHost();
    uint256[] memory pubSignals = new uint256[](3);
    pubSignals[0] = challengeToFieldElement(getChallenge(id));
    pubSignals[1] = merkleRootToFieldElement(request.content.merkleRoot);
    pubSignals[2] = slot.slotIndex;
    _proofReceived(id, proof, pubSignals);
  }

  function canMarkProofAsMissing(SlotId slotId, Period period) public view {
    if (slotState(slotId) != SlotState.Filled) revert Marketplace_SlotNotAcceptingProofs();
    _canMarkProofAsMissing(slotId, period);
  }

  function markProofAsMissing(SlotId slotId, Period period) public {
    if (slotState(slotId) != SlotState.Filled) revert Marketplace_SlotNotAcceptingProofs();
    _markProofAsMissing(slotId, period);

    Slot storage slot = _slots[slotId];
    Request storage request = _requests[slot.requestId];
    uint256 slashedAmount = (request.ask.collateralPerSlot() *
      _config.collateral.slashPercentage) / 100;
    uint256 validatorReward = (slashedAmount * _config.collateral.validatorRewardPercentage) /
      100;
    _marketplaceTotals.sent += validatorReward;
    _transfer(msg.sender, validatorReward);
    slot.currentCollateral -= slashedAmount;

    if (missingProofs(slotId) >= _config.collateral.maxNumberOfSlashes) {
      _forciblyFreeSlot(slotId);
    }
  }

  function withdrawFunds(RequestId requestId) public {
    withdrawFunds(requestId, msg.sender);
  }

  function withdrawFunds(
    RequestId requestId,
    address withdrawRecipient
  ) public requestIsKnown(requestId) {
    Request storage request = _requests[requestId];
    RequestContext storage context = _requestContexts[requestId];
    if (request.client != msg.sender) revert Marketplace_InvalidClientAddress();

    RequestState state = requestState(requestId);
    if (
      state != RequestState.Cancelled &&
      state != RequestState.Failed &&
      state != RequestState.Finished
    ) {
      revert Marketplace_InvalidState();
    }
    // A zero balance marks an earlier withdrawal: never pay twice.
    if (context.fundsToReturnToClient == 0) revert Marketplace_NothingToWithdraw();

    if (state == RequestState.Cancelled) {
      context.state = RequestState.Cancelled;
      emit RequestCancelled(requestId);
      // Hosts are paid up to expiry only; the rest of each filled slot's payment returns.
      context.fundsToReturnToClient +=
        context.slotsFilled *
        _slotPayout(requestId, context.expiresAt);
    } else if (state == RequestState.Failed) {
      context.fundsToReturnToClient = request.ask.maxPrice();
    } else {
      context.state = RequestState.Finished;
    }

    _removeFromMyRequests(request.client, requestId);
    uint256 amount = context.fundsToReturnToClient;
    _marketplaceTotals.sent += amount;
    context.fundsToReturnToClient = 0;
    _transfer(withdrawRecipient, amount);
  }

  function getActiveSlot(
    SlotId slotId
  ) public view slotIsNotFree(slotId) returns (ActiveSlot memory) {
    Slot storage slot = _slots[slotId];
    return ActiveSlot(_requests[slot.requestId], slot.slotIndex);
  }

  function getRequest(
    RequestId requestId
  ) public view requestIsKnown(requestId) returns (Request memory) {
    return _requests[requestId];
  }

  function requestEnd(RequestId requestId) public view returns (uint64) {
    RequestState state = requestState(requestId);
    RequestContext storage context = _requestContexts[requestId];
    if (state == RequestState.New || state == RequestState.Started) {
      return context.endsAt;
    }
    if (state == RequestState.Cancelled) {
      return context.expiresAt;
    }
    return block.timestamp < context.endsAt ? uint64(block.timestamp) : context.endsAt;
  }

  function requestExpiry(RequestId requestId) public view returns (uint64) {
    return _requestContexts[requestId].expiresAt;
  }

  function getHost(SlotId slotId) public view returns (address) {
    return _slots[slotId].host;
  }

  function requestState(
    RequestId requestId
  ) public view requestIsKnown(requestId) returns (RequestState) {
    RequestContext storage context = _requestContexts[requestId];
    uint64 now_ = uint64(block.timestamp);
    if (context.state == RequestState.New && now_ > context.expiresAt) {
      return RequestState.Cancelled;
    }
    if (
      (context.state == RequestState.Started || context.state == RequestState.New) &&
      now_ > context.endsAt
    ) {
      return RequestState.Finished;
    }
    return context.state;
  }

  function slotState(
    SlotId slotId
  ) public view override(Proofs, SlotReservations) returns (SlotState) {
    Slot storage slot = _slots[slotId];
    if (RequestId.unwrap(slot.requestId) == 0) {
      return SlotState.Free;
    }
    if (slot.state == SlotState.Paid) {
      return SlotState.Paid;
    }
    RequestState state = requestState(slot.requestId);
    if (state == RequestState.Cancelled) return SlotState.Cancelled;
    if (state == RequestState.Finished) return SlotState.Finished;
    if (state == RequestState.Failed) return SlotState.Failed;
    return slot.state;
  }

  function slotProbability(SlotId slotId) public view override returns (uint256) {
    Request storage request = _requests[_slots[slotId].requestId];
    return (request.ask.proofProbability * (256 - _config.proofs.downtime)) / 256;
  }

  /// @notice The block time from which the slot's dispersal window runs: the request's creation
  ///         or the slot's last forced freeing. Development extension; not in Codex's ABI.
  function dispersalStart(RequestId requestId, uint64 slotIndex) public view returns (uint64) {
    (uint256 start, ) = _dispersalOrigin(requestId, Requests.slotId(requestId, slotIndex));
    return uint64(start);
  }

  /// @notice Entropy input of the proof circuit: the first 31 bytes, read little-endian.
  function challengeToFieldElement(bytes32 challenge) public pure returns (uint256) {
    return uint256(_byteSwap(bytes32(bytes31(challenge))));
  }

  /// @notice Dataset-root input of the proof circuit: all 32 bytes, read little-endian.
  function merkleRootToFieldElement(bytes32 merkleRoot) public pure returns (uint256) {
    return uint256(_byteSwap(merkleRoot));
  }

  function _dispersalOrigin(
    RequestId requestId,
    SlotId slotId
  ) internal view override returns (uint256 start, uint256 expiry) {
    expiry = _requests[requestId].expiry;
    start = _freedAt[slotId];
    if (start == 0) {
      start = _requestContexts[requestId].expiresAt - expiry;
    }
  }

  /// @dev Frees a filled slot for repair: the client gets the unearned payment back, the host
  ///      loses what is left of its collateral, and the request fails once too many slots are lost.
  function _forciblyFreeSlot(SlotId slotId) internal {
    Slot storage slot = _slots[slotId];
    RequestId requestId = slot.requestId;
    RequestContext storage context = _requestContexts[requestId];

    context.fundsToReturnToClient += _slotPayout(requestId, slot.filledAt);
    _removeFromMySlots(slot.host, slotId);
    delete _reservations[slotId];
    _freedAt[slotId] = uint64(block.timestamp);

    slot.state = SlotState.Repair;
    slot.filledAt = 0;
    slot.currentCollateral = 0;
    slot.host = address(0);
    context.slotsFilled -= 1;
    emit SlotFreed(requestId, slot.slotIndex);
    _resetMissingProofs(slotId);

    Request storage request = _requests[requestId];
    uint256 slotsLost = request.ask.slots - context.slotsFilled;
    if (slotsLost > request.ask.maxSlotLoss && context.state == RequestState.Started) {
      context.state = RequestState.Failed;
      context.endsAt = uint64(block.timestamp) - 1;
      emit RequestFailed(requestId);
    }
  }

  function _payoutSlot(
    RequestId requestId,
    SlotId slotId,
    address rewardRecipient,
    address collateralRecipient
  ) private requestIsKnown(requestId) {
    RequestContext storage context = _requestContexts[requestId];
    Request storage request = _requests[requestId];
    context.state = RequestState.Finished;
    _removeFromMyRequests(request.client, requestId);
    Slot storage slot = _slots[slotId];
    _removeFromMySlots(slot.host, slotId);

    uint256 payoutAmount = _slotPayout(requestId, slot.filledAt);
    uint256 collateralAmount = slot.currentCollateral;
    _marketplaceTotals.sent += payoutAmount + collateralAmount;
    slot.state = SlotState.Paid;
    _transfer(rewardRecipient, payoutAmount);
    _transfer(collateralRecipient, collateralAmount);
  }

  function _payoutCancelledSlot(
    RequestId requestId,
    SlotId slotId,
    address rewardRecipient,
    address collateralRecipient
  ) private requestIsKnown(requestId) {
    Slot storage slot = _slots[slotId];
    _removeFromMySlots(slot.host, slotId);

    uint256 payoutAmount = _slotPayout(
      requestId,
      slot.filledAt,
      _requestContexts[requestId].expiresAt
    );
    uint256 collateralAmount = slot.currentCollateral;
    _marketplaceTotals.sent += payoutAmount + collateralAmount;
    slot.state = SlotState.Paid;
    _transfer(rewardRecipient, payoutAmount);
    _transfer(collateralRecipient, collateralAmount);
  }

  function _slotPayout(RequestId requestId, uint256 start) private view returns (uint256) {
    return _slotPayout(requestId, start, _requestContexts[requestId].endsAt);
  }

  function _slotPayout(
    RequestId requestId,
    uint256 start,
    uint256 end
  ) private view returns (uint256) {
    if (start >= end) revert Marketplace_StartNotBeforeExpiry();
    return (end - start) * _requests[requestId].ask.pricePerSlotPerSecond();
  }

  function _transferFrom(address sender, uint256 amount) private {
    if (!_token.transferFrom(sender, address(this), amount)) revert Marketplace_TransferFailed();
  }

  function _transfer(address recipient, uint256 amount) private {
    if (!_token.transfer(recipient, amount)) revert Marketplace_TransferFailed();
  }
}
