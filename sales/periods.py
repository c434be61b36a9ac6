"""Periods (ARITH-8, MARKETPLACE_ABI.md §8): all uint64 seconds."""

from pydantic import BaseModel, ConfigDict, Field


class Periodicity(BaseModel):
    model_config = ConfigDict(frozen=True)

    seconds: int = Field(gt=0)

    def period_of(self, timestamp: int) -> int:
        return timestamp // self.seconds

    def period_start(self, period: int) -> int:
        return period * self.seconds

    def period_end(self, period: int) -> int:
        return self.period_start(period + 1)

    def next_period_start(self, timestamp: int) -> int:
        """Where the host acts next: one past the boundary is PRV-1's `periodStart(p+1) + 1`."""
        return self.period_end(self.period_of(timestamp))
