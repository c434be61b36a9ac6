// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Marketplace configuration, immutable after construction (MARKETPLACE_ABI.md §1, §6).
struct MarketplaceConfig {
  CollateralConfig collateral;
  ProofConfig proofs;
  SlotReservationsConfig reservations;
  uint64 requestDurationLimit;
}

struct CollateralConfig {
  uint8 repairRewardPercentage; // discount on the collateral of a slot filled in Repair
  uint8 maxNumberOfSlashes; // missed proofs after which the slot is freed
  uint8 slashPercentage; // of the original per-slot collateral, per missed proof
  uint8 validatorRewardPercentage; // of each slash, paid to the validator that marked it
}

struct ProofConfig {
  uint64 period; // seconds
  uint64 timeout; // seconds after a period's end during which a missed proof may be marked
  uint8 downtime; // blocks (pointer values) during which no proof is demanded
  uint8 downtimeProduct; // prime that shifts the pointer each period
  string zkeyHash;
}

struct SlotReservationsConfig {
  uint8 maxReservations;
}

/// @notice Development-only dispersal window (ARCHITECTURE.md §5). initialBits >= 256 is off.
struct DispersalWindow {
  uint16 initialBits;
  uint16 windowPercent;
}
