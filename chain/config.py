"""The marketplace configuration (MARKETPLACE_ABI.md §1, §6) and Codex's named presets.

Mirrors the contract's ``MarketplaceConfig`` tuple field for field so it can be passed to the
constructor and read back from ``configuration()`` unchanged.
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

UInt8 = Annotated[int, Field(ge=0, le=2**8 - 1)]
UInt64 = Annotated[int, Field(ge=0, le=2**64 - 1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CollateralConfig(_Frozen):
    repair_reward_percentage: UInt8
    max_number_of_slashes: UInt8
    slash_percentage: UInt8
    validator_reward_percentage: UInt8


class ProofConfig(_Frozen):
    period: UInt64
    """Seconds per proof period."""
    timeout: UInt64
    """Seconds after a period's end during which a missed proof may be marked."""
    downtime: UInt8
    """Pointer values (blocks) at the start of the pointer cycle with no proof demanded."""
    downtime_product: UInt8
    zkey_hash: str = ""


class SlotReservationsConfig(_Frozen):
    max_reservations: UInt8


class MarketplaceConfig(_Frozen):
    collateral: CollateralConfig
    proofs: ProofConfig
    reservations: SlotReservationsConfig
    request_duration_limit: UInt64

    def to_abi(self) -> tuple[Any, ...]:
        """The constructor's ABI tuple.

        ``((uint8,uint8,uint8,uint8),(uint64,uint64,uint8,uint8,string),(uint8),uint64)``
        """
        c, p = self.collateral, self.proofs
        return (
            (
                c.repair_reward_percentage,
                c.max_number_of_slashes,
                c.slash_percentage,
                c.validator_reward_percentage,
            ),
            (p.period, p.timeout, p.downtime, p.downtime_product, p.zkey_hash),
            (self.reservations.max_reservations,),
            self.request_duration_limit,
        )

    @classmethod
    def from_abi(cls, value: Any) -> "MarketplaceConfig":
        """Parse the tuple returned by ``configuration()``."""
        collateral, proofs, reservations, limit = value
        return cls(
            collateral=CollateralConfig(
                repair_reward_percentage=collateral[0],
                max_number_of_slashes=collateral[1],
                slash_percentage=collateral[2],
                validator_reward_percentage=collateral[3],
            ),
            proofs=ProofConfig(
                period=proofs[0],
                timeout=proofs[1],
                downtime=proofs[2],
                downtime_product=proofs[3],
                zkey_hash=proofs[4],
            ),
            reservations=SlotReservationsConfig(max_reservations=reservations[0]),
            request_duration_limit=limit,
        )


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
"""Local devnet and demo: short periods so proofs come round quickly."""

PRESETS: dict[str, MarketplaceConfig] = {
    "dev": DEV,
    "codex-default": CODEX_DEFAULT,
    "codex-hardhat": CODEX_HARDHAT,
    "codex-test": CODEX_TEST,
}
