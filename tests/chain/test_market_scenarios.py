"""The shared marketplace scenarios on the fake and on the development contract (MKT-*, MOCK-*).

Every scenario must pass on both: that is what keeps the fake faithful.
"""

from collections.abc import Awaitable, Callable

import pytest

from tests.chain.scenarios import (
    SCENARIOS,
    ChainWorld,
    FakeWorld,
    World,
    chain_node,  # noqa: F401  (fixture)
    chain_world,  # noqa: F401  (fixture)
    fresh_chain,  # noqa: F401  (fixture)
)

Scenario = Callable[[World], Awaitable[None]]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__.removeprefix("scenario_"))
async def test_scenario_on_fake(scenario: Scenario) -> None:
    await scenario(FakeWorld())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__.removeprefix("scenario_"))
async def test_scenario_on_chain(scenario: Scenario, chain_world: ChainWorld) -> None:  # noqa: F811
    await scenario(chain_world)
