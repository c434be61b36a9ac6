"""Client and validator operations, beside the host's `Market` port.

Hosts never request storage or slash anyone, but tests, the demo and operators checking their
setup do. `MarketClient` is what both `OnChainClient` and the fake offer; the scenario suite codes
against it so the fake and the contract are held to the same behaviour.
"""

from typing import Protocol

from chain.market import Market, MarketError, OnSent
from chain.onchain import OnChainMarket, RevertError
from sales.hexbytes import to_bytes, to_hex
from sales.ids import request_abi_tuple
from sales.models import StorageRequest


class MarketClient(Market, Protocol):
    async def request_storage(
        self, request: StorageRequest, *, sent: str | None = None, on_sent: OnSent | None = None
    ) -> str | None:
        """Approve the total price and submit the request (MKT-7); None if it already exists."""
        ...

    async def withdraw_funds(
        self, request_id: str, *, sent: str | None = None, on_sent: OnSent | None = None
    ) -> str | None: ...
    async def mark_proof_as_missing(
        self,
        slot_id: str,
        period: int,
        *,
        sent: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str | None: ...
    async def can_mark_proof_as_missing(self, slot_id: str, period: int) -> bool: ...
    async def my_requests(self) -> list[str]: ...
    async def missing_proofs(self, slot_id: str) -> int: ...
    async def token_balance(self, address: str | None = None) -> int:
        """ERC-20 balance of `address` (default: the signer)."""
        ...


class OnChainClient(OnChainMarket):
    """`OnChainMarket` plus the client and validator transactions (for tests, demo, operators)."""

    async def request_storage(
        self, request: StorageRequest, *, sent: str | None = None, on_sent: OnSent | None = None
    ) -> str | None:
        if request.client.lower() != self.address.lower():
            raise MarketError("Failed to request storage: the request's client is not the signer")
        if sent is not None and await self._already_mined(sent):
            return sent
        if await self.get_request(request.id) is not None:
            return None  # a retry after the request landed
        data = self._encode("requestStorage", [request_abi_tuple(request)])
        return await self.spending(
            request.ask.total_price,
            lambda: self._transact("requestStorage", data, on_sent=on_sent),
        )

    async def withdraw_funds(
        self, request_id: str, *, sent: str | None = None, on_sent: OnSent | None = None
    ) -> str | None:
        if sent is not None and await self._already_mined(sent):
            return sent
        data = self._encode("withdrawFunds", [to_bytes(request_id)])
        return await self._transact("withdrawFunds", data, on_sent=on_sent)

    async def mark_proof_as_missing(
        self,
        slot_id: str,
        period: int,
        *,
        sent: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str | None:
        if sent is not None and await self._already_mined(sent):
            return sent
        data = self._encode("markProofAsMissing", [to_bytes(slot_id), period])
        return await self._transact("markProofAsMissing", data, on_sent=on_sent)

    async def can_mark_proof_as_missing(self, slot_id: str, period: int) -> bool:
        """MKT-3/4: true unless the view reverts (read at the pending block)."""
        data = self._encode("canMarkProofAsMissing", [to_bytes(slot_id), period])
        try:
            await self._call_raw(data, pending=True)
        except RevertError:
            return False
        return True

    async def my_requests(self) -> list[str]:
        (ids,) = await self._read("myRequests", [])
        return [to_hex(i) for i in ids]

    async def token_balance(self, address: str | None = None) -> int:
        token = await self.token()
        (balance,) = await self._read("balanceOf", [address or self.address], to=token)
        return int(balance)


__all__ = ["MarketClient", "OnChainClient"]
