// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./Configuration.sol";
import "./Requests.sol";
import "./Periods.sol";
import "./Groth16.sol";

/// @notice Storage-proof bookkeeping: when a slot must prove, what the challenge is, which proofs
///         were received or marked missing (MARKETPLACE_ABI.md §8).
abstract contract Proofs is Periods {
  error Proofs_InsufficientBlockHeight();
  error Proofs_InvalidProof();
  error Proofs_ProofAlreadySubmitted();
  error Proofs_PeriodNotEnded();
  error Proofs_ValidationTimedOut();
  error Proofs_ProofNotMissing();
  error Proofs_ProofNotRequired();
  error Proofs_ProofAlreadyMarkedMissing();

  event ProofSubmitted(SlotId id);

  IGroth16Verifier private immutable _verifier;
  uint64 private immutable _timeout;
  uint8 private immutable _downtime;
  uint8 private immutable _downtimeProduct;

  mapping(SlotId => uint256) private _slotStarts;
  mapping(SlotId => uint64) private _missingProofs;
  mapping(SlotId => mapping(Period => bool)) private _received;
  mapping(SlotId => mapping(Period => bool)) private _missing;

  /// @dev Challenges read the hash of a block up to 256 blocks back, which must exist.
  constructor(ProofConfig memory config, IGroth16Verifier verifier) Periods(config.period) {
    if (block.number <= 256) revert Proofs_InsufficientBlockHeight();
    _verifier = verifier;
    _timeout = config.timeout;
    _downtime = config.downtime;
    _downtimeProduct = config.downtimeProduct;
  }

  function slotState(SlotId id) public view virtual returns (SlotState);

  function slotProbability(SlotId id) public view virtual returns (uint256);

  function missingProofs(SlotId slotId) public view returns (uint64) {
    return _missingProofs[slotId];
  }

  function getPointer(SlotId id) public view returns (uint8) {
    return _getPointer(id, _blockPeriod());
  }

  function getChallenge(SlotId id) public view returns (bytes32) {
    return _getChallenge(_getPointer(id, _blockPeriod()));
  }

  function isProofRequired(SlotId id) public view returns (bool) {
    (bool required, uint8 pointer) = _getProofRequirement(id, _blockPeriod());
    return required && pointer >= _downtime;
  }

  function willProofBeRequired(SlotId id) public view returns (bool) {
    (bool required, uint8 pointer) = _getProofRequirement(id, _blockPeriod());
    return required && pointer < _downtime;
  }

  function _resetMissingProofs(SlotId slotId) internal {
    _missingProofs[slotId] = 0;
  }

  function _startRequiringProofs(SlotId id) internal {
    _slotStarts[id] = block.timestamp;
  }

  /// @dev The pointer walks one step per block; each period shifts it by downtimeProduct.
  function _getPointer(SlotId id, Period period) internal view returns (uint8) {
    uint256 blockNumber = block.number % 256;
    uint256 periodNumber = (uint256(Period.unwrap(period)) * _downtimeProduct) % 256;
    uint256 idOffset = uint256(SlotId.unwrap(id)) % 256;
    return uint8((blockNumber + periodNumber + idOffset) % 256);
  }

  function _getChallenge(uint8 pointer) internal view returns (bytes32) {
    bytes32 hash = blockhash(block.number - 1 - pointer);
    assert(uint256(hash) != 0);
    return keccak256(abi.encode(hash));
  }

  function _getProofRequirement(
    SlotId id,
    Period period
  ) internal view returns (bool isRequired, uint8 pointer) {
    if (slotState(id) != SlotState.Filled || !_isAfter(period, _periodOf(_slotStarts[id]))) {
      return (false, 0);
    }
    pointer = _getPointer(id, period);
    bytes32 challenge = _getChallenge(pointer);
    uint256 probability = slotProbability(id);
    isRequired = probability == 0 || uint256(challenge) % probability == 0;
  }

  function _isProofRequired(SlotId id, Period period) internal view returns (bool) {
    (bool required, uint8 pointer) = _getProofRequirement(id, period);
    return required && pointer >= _downtime;
  }

  function _proofReceived(
    SlotId id,
    Groth16Proof calldata proof,
    uint256[] memory pubSignals
  ) internal {
    Period period = _blockPeriod();
    if (_received[id][period]) revert Proofs_ProofAlreadySubmitted();
    if (!_verifier.verify(proof, pubSignals)) revert Proofs_InvalidProof();
    _received[id][period] = true;
    emit ProofSubmitted(id);
  }

  function _canMarkProofAsMissing(SlotId id, Period period) internal view {
    uint256 end = _periodEnd(period);
    if (end >= block.timestamp) revert Proofs_PeriodNotEnded();
    if (block.timestamp >= end + _timeout) revert Proofs_ValidationTimedOut();
    if (_received[id][period]) revert Proofs_ProofNotMissing();
    if (!_isProofRequired(id, period)) revert Proofs_ProofNotRequired();
    if (_missing[id][period]) revert Proofs_ProofAlreadyMarkedMissing();
  }

  function _markProofAsMissing(SlotId id, Period period) internal {
    _canMarkProofAsMissing(id, period);
    _missing[id][period] = true;
    _missingProofs[id] += 1;
  }
}
