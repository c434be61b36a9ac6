"""The marketplace configuration (MARKETPLACE_ABI.md §1, §6) and Codex's named presets.

Mirrors the contract's ``MarketplaceConfig`` tuple field for field so it can be passed to the
constructor and read back from ``configuration()`` unchanged.
"""

from sales.models import (
    CollateralConfig,
    MarketplaceConfig,
    ProofConfig,
    SlotReservationsConfig,
)

__all__ = [
    "CODEX_DEFAULT",
    "CODEX_HARDHAT",
    "CODEX_TEST",
    "DEMO",
    "DEV",
    "PRESETS",
    "CollateralConfig",
    "MarketplaceConfig",
    "ProofConfig",
    "SlotReservationsConfig",
]


def _preset(
    repair: int,
    slashes: int,
    slash: int,
    validator: int,
    period: int,
    timeout: int,
    downtime: int,
    product: int,
    reservations: int = 3,
    limit: int = 30 * 24 * 3600,
) -> MarketplaceConfig:
    return MarketplaceConfig(
        collateral=CollateralConfig(
            repair_reward_percentage=repair,
            max_number_of_slashes=slashes,
            slash_percentage=slash,
            validator_reward_percentage=validator,
        ),
        proofs=ProofConfig(
            period=period, timeout=timeout, downtime=downtime, downtime_product=product
        ),
        reservations=SlotReservationsConfig(max_reservations=reservations),
        request_duration_limit=limit,
    )


CODEX_DEFAULT = _preset(10, 2, 20, 20, 120, 30, 64, 67)
"""configuration/configuration.js DEFAULT (localhost, nim-codex integration tests)."""
CODEX_HARDHAT = _preset(10, 2, 20, 20, 90, 30, 96, 97)
"""configuration/networks/hardhat/configuration.js."""
CODEX_TEST = _preset(10, 5, 10, 20, 10, 5, 64, 67)
"""The JS unit tests' exampleConfiguration() and nim-codex MockMarket."""
DEV = CODEX_TEST
"""Local devnet: Codex's unit-test numbers."""
DEMO = _preset(10, 2, 20, 20, 30, 15, 64, 67)
"""The demo and end-to-end tests on anvil mining a block a second: 30 s periods leave room for
real Groth16 proofs (seconds each on 2 cores), below downtime x block time (64 s)."""

PRESETS: dict[str, MarketplaceConfig] = {
    "dev": DEV,
    "demo": DEMO,
    "codex-default": CODEX_DEFAULT,
    "codex-hardhat": CODEX_HARDHAT,
    "codex-test": CODEX_TEST,
}
