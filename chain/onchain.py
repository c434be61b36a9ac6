"""`OnChainMarket`: the `Market` port over JSON-RPC with a local signing key (MKT-1..10).

Calls are ABI-encoded here with eth-abi from the signatures of MARKETPLACE_ABI.md §3, so the
adapter talks to Codex's marketplace and to our development contract alike. Transactions are
signed locally (eth-account), numbered by `NonceManager` and confirmed with one confirmation.

Retry safety: every transaction method takes ``sent=`` (the hash from an earlier attempt) and
``on_sent`` (called with the hash after signing and *before* broadcast, so a crash right after the
broadcast can still be recovered from the recorded hash). A retry first looks up that hash's
receipt (or waits for it while it is in the mempool) and only sends again if it never made it.
Effects already on chain count as success: fill when this host already holds the slot, a proof
already submitted this period, a reservation already held, a payout already made; those return
None instead of a hash.

Transient RPC failures raise `ChainUnavailableError` (retry later); contract reverts raise the
typed errors of chain.market (MKT-2/3).
"""

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, cast

import aiohttp
from eth_abi.abi import decode, encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)

from chain.errors import CONTEXT, ContractRevertError, contract_error, error_name
from chain.market import MarketError, OnSent, SlotStateMismatchError
from chain.nonce import NonceManager
from sales.hexbytes import ZERO_ADDRESS, to_bytes, to_hex
from sales.ids import REQUEST_ABI_TYPE, slot_id
from sales.models import (
    Groth16Proof,
    MarketplaceConfig,
    RequestState,
    Slot,
    SlotState,
    StorageAsk,
    StorageContent,
    StorageRequest,
    repair_collateral,
)

PROOF_ABI_TYPE = "((uint256,uint256),((uint256,uint256),(uint256,uint256)),(uint256,uint256))"
CONFIG_ABI_TYPE = "((uint8,uint8,uint8,uint8),(uint64,uint64,uint8,uint8,string),(uint8),uint64)"

# friendly name -> (canonical signature, input types, output types)
FUNCTIONS: dict[str, tuple[str, list[str], list[str]]] = {
    "configuration": ("configuration()", [], [CONFIG_ABI_TYPE]),
    "token": ("token()", [], ["address"]),
    "currentCollateral": ("currentCollateral(bytes32)", ["bytes32"], ["uint256"]),
    "requestStorage": (f"requestStorage({REQUEST_ABI_TYPE})", [REQUEST_ABI_TYPE], []),
    "fillSlot": (
        f"fillSlot(bytes32,uint64,{PROOF_ABI_TYPE})",
        ["bytes32", "uint64", PROOF_ABI_TYPE],
        [],
    ),
    "freeSlot": ("freeSlot(bytes32)", ["bytes32"], []),
    "freeSlotTo": ("freeSlot(bytes32,address,address)", ["bytes32", "address", "address"], []),
    "submitProof": (f"submitProof(bytes32,{PROOF_ABI_TYPE})", ["bytes32", PROOF_ABI_TYPE], []),
    "canMarkProofAsMissing": ("canMarkProofAsMissing(bytes32,uint64)", ["bytes32", "uint64"], []),
    "markProofAsMissing": ("markProofAsMissing(bytes32,uint64)", ["bytes32", "uint64"], []),
    "withdrawFunds": ("withdrawFunds(bytes32)", ["bytes32"], []),
    "getActiveSlot": ("getActiveSlot(bytes32)", ["bytes32"], [f"({REQUEST_ABI_TYPE},uint64)"]),
    "getRequest": ("getRequest(bytes32)", ["bytes32"], [REQUEST_ABI_TYPE]),
    "requestEnd": ("requestEnd(bytes32)", ["bytes32"], ["uint64"]),
    "requestExpiry": ("requestExpiry(bytes32)", ["bytes32"], ["uint64"]),
    "getHost": ("getHost(bytes32)", ["bytes32"], ["address"]),
    "requestState": ("requestState(bytes32)", ["bytes32"], ["uint8"]),
    "slotState": ("slotState(bytes32)", ["bytes32"], ["uint8"]),
    "missingProofs": ("missingProofs(bytes32)", ["bytes32"], ["uint64"]),
    "getPointer": ("getPointer(bytes32)", ["bytes32"], ["uint8"]),
    "getChallenge": ("getChallenge(bytes32)", ["bytes32"], ["bytes32"]),
    "isProofRequired": ("isProofRequired(bytes32)", ["bytes32"], ["bool"]),
    "willProofBeRequired": ("willProofBeRequired(bytes32)", ["bytes32"], ["bool"]),
    "reserveSlot": ("reserveSlot(bytes32,uint64)", ["bytes32", "uint64"], []),
    "canReserveSlot": ("canReserveSlot(bytes32,uint64)", ["bytes32", "uint64"], ["bool"]),
    "myRequests": ("myRequests()", [], ["bytes32[]"]),
    "mySlots": ("mySlots()", [], ["bytes32[]"]),
    # ERC-20
    "allowance": ("allowance(address,address)", ["address", "address"], ["uint256"]),
    "approve": ("approve(address,uint256)", ["address", "uint256"], ["bool"]),
    "balanceOf": ("balanceOf(address)", ["address"], ["uint256"]),
}

DEFAULT_REQUEST_CACHE_SIZE = 128
"""MKT-10."""

GAS_FACTORS = {
    "fillSlot": (110, 100),
    "reserveSlot": (125, 100),
    "markProofAsMissing": (150, 100),
    "freeSlot": (3, 1),
}
"""MKT-5: estimate multipliers (numerator, denominator)."""


TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    aiohttp.ClientError,
    ProviderConnectionError,
    Web3RPCError,
)
"""Failures of the endpoint, not of the call: worth retrying later."""
SEND_FAILURES: tuple[type[BaseException], ...] = (*TRANSIENT, ValueError)


class ChainUnavailableError(ConnectionError):
    """The RPC endpoint failed or timed out: transient, retry later (not a business error)."""


class StaleNonceError(ChainUnavailableError):
    """The node already has a transaction with our nonce (the key was used elsewhere)."""


NONCE_ATTEMPTS = 3


class RevertError(Exception):
    """A call or gas estimate reverted; ``reason`` is the custom error's name when known."""

    def __init__(self, data: str | None, detail: str) -> None:
        super().__init__(detail)
        self.data = data
        self.reason = error_name(data) or detail


def request_from_abi(value: Sequence[Any]) -> StorageRequest:
    client, ask, content, expiry, nonce = value
    return StorageRequest(
        client=client,
        ask=StorageAsk(**dict(zip(StorageAsk.model_fields, ask, strict=True))),
        content=StorageContent(cid=content[0], merkle_root=content[1]),
        expiry=expiry,
        nonce=nonce,
    )


class OnChainMarket:
    """The host's market over one RPC endpoint, one marketplace and one signing key."""

    def __init__(
        self,
        w3: "AsyncWeb3[Any]",
        marketplace: str,
        private_key: str,
        *,
        reward_recipient: str | None = None,
        request_cache_size: int = DEFAULT_REQUEST_CACHE_SIZE,
        tx_timeout: float = 120.0,
        poll_interval: float = 0.05,
    ) -> None:
        self._w3 = w3
        self.marketplace: str = AsyncWeb3.to_checksum_address(marketplace)
        self.__account: LocalAccount = Account.from_key(private_key)
        self.address: str = str(self.__account.address)
        self.reward_recipient = (
            AsyncWeb3.to_checksum_address(reward_recipient) if reward_recipient else None
        )
        self._nonces = NonceManager(self._pending_count)
        self._allowance_lock = asyncio.Lock()
        self._config: MarketplaceConfig | None = None
        self._token: str | None = None
        self._chain_id: int | None = None
        self._requests: OrderedDict[str, StorageRequest] = OrderedDict()
        self._request_cache_size = request_cache_size
        self._tx_timeout = tx_timeout
        self._poll_interval = poll_interval

    @classmethod
    def connect(
        cls, rpc_url: str, marketplace: str, private_key: str, **options: Any
    ) -> "OnChainMarket":
        """Build over an HTTP JSON-RPC endpoint (no I/O until the first call)."""
        return cls(AsyncWeb3(AsyncHTTPProvider(rpc_url)), marketplace, private_key, **options)

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(marketplace={self.marketplace}, signer={self.address})"

    @property
    def w3(self) -> "AsyncWeb3[Any]":
        return self._w3

    async def start(self) -> MarketplaceConfig:
        """Load the configuration (MKT-8: the node quits if this fails) and the signer's nonce."""
        self._nonces.reset()
        return await self.configuration()

    async def close(self) -> None:
        """Close the HTTP session of the provider (shared providers: close once)."""
        await self._w3.provider.disconnect()

    # --- configuration and identity ----------------------------------------------------------

    async def get_signer(self) -> str:
        return self.address

    async def configuration(self) -> MarketplaceConfig:
        """MKT-8: fetched once, then served from memory (the contract's config is immutable)."""
        if self._config is None:
            (raw,) = await self._view("configuration", [])
            self._config = MarketplaceConfig.from_abi(raw)
        return self._config

    async def token(self) -> str:
        if self._token is None:
            (token,) = await self._view("token", [])
            self._token = AsyncWeb3.to_checksum_address(token)
        return self._token

    async def current_time(self) -> int:
        block = await self._rpc("latest block", self._w3.eth.get_block("latest"))
        return int(block["timestamp"])

    # --- reads -------------------------------------------------------------------------------

    async def get_request(self, request_id: str) -> StorageRequest | None:
        """MKT-3/10: None when unknown; found requests are immutable, so they are cached."""
        key = request_id.lower()
        cached = self._requests.get(key)
        if cached is not None:
            self._requests.move_to_end(key)
            return cached
        try:
            (raw,) = await self._view("getRequest", [to_bytes(request_id)])
        except RevertError:
            return None
        request = request_from_abi(raw)
        self._requests[key] = request
        if len(self._requests) > self._request_cache_size:
            self._requests.popitem(last=False)
        return request

    async def request_state(self, request_id: str) -> RequestState | None:
        try:
            (state,) = await self._view("requestState", [to_bytes(request_id)], pending=True)
        except RevertError as exc:
            if exc.reason == "Marketplace_UnknownRequest":
                return None
            raise MarketError(f"Failed to read request state: {exc.reason}") from exc
        return RequestState(state)

    async def slot_state(self, slot_id: str) -> SlotState:
        (state,) = await self._read("slotState", [to_bytes(slot_id)], pending=True)
        return SlotState(state)

    async def request_end(self, request_id: str) -> int:
        (end,) = await self._read("requestEnd", [to_bytes(request_id)])
        return int(end)

    async def request_expires_at(self, request_id: str) -> int:
        (expiry,) = await self._read("requestExpiry", [to_bytes(request_id)])
        return int(expiry)

    async def get_host(self, slot_id: str) -> str | None:
        (host,) = await self._read("getHost", [to_bytes(slot_id)])
        return None if int(host, 16) == 0 else AsyncWeb3.to_checksum_address(host)

    async def current_collateral(self, slot_id: str) -> int:
        (amount,) = await self._read("currentCollateral", [to_bytes(slot_id)])
        return int(amount)

    async def get_active_slot(self, slot_id: str) -> Slot | None:
        try:
            ((request, index),) = await self._view("getActiveSlot", [to_bytes(slot_id)])
        except RevertError as exc:
            if exc.reason == "Marketplace_SlotIsFree":
                return None
            raise MarketError(f"Failed to read active slot: {exc.reason}") from exc
        return Slot(request=request_from_abi(request), slot_index=index)

    async def my_slots(self) -> list[str]:
        (ids,) = await self._read("mySlots", [])
        return [to_hex(i) for i in ids]

    async def can_reserve_slot(self, request_id: str, slot_index: int) -> bool:
        (ok,) = await self._read("canReserveSlot", [to_bytes(request_id), slot_index])
        return bool(ok)

    async def slot_collateral(self, request_id: str, slot_index: int) -> int:
        """MKT-9: the full collateral, or the repair-discounted one for a slot in Repair."""
        state = await self.slot_state(slot_id(request_id, slot_index))
        request = await self.get_request(request_id)
        if request is None:
            raise MarketError(f"Failed to compute slot collateral: unknown request {request_id}")
        full = request.ask.collateral_per_slot
        if state != SlotState.Repair:
            return full
        config = await self.configuration()
        return repair_collateral(full, config.collateral.repair_reward_percentage)

    async def get_pointer(self, slot_id: str) -> int:
        (pointer,) = await self._read("getPointer", [to_bytes(slot_id)], pending=True)
        return int(pointer)

    async def get_challenge(self, slot_id: str) -> str:
        (challenge,) = await self._read("getChallenge", [to_bytes(slot_id)], pending=True)
        return to_hex(challenge)

    async def is_proof_required(self, slot_id: str) -> bool:
        return await self._proof_flag("isProofRequired", slot_id)

    async def will_proof_be_required(self, slot_id: str) -> bool:
        return await self._proof_flag("willProofBeRequired", slot_id)

    async def missing_proofs(self, slot_id: str) -> int:
        (count,) = await self._read("missingProofs", [to_bytes(slot_id)])
        return int(count)

    async def _proof_flag(self, name: str, slot_id: str) -> bool:
        try:
            (flag,) = await self._view(name, [to_bytes(slot_id)], pending=True)
        except RevertError as exc:
            if exc.reason == "Marketplace_SlotIsFree":
                return False  # MKT-3
            raise MarketError(f"Failed to read {name}: {exc.reason}") from exc
        return bool(flag)

    # --- transactions ------------------------------------------------------------------------

    async def reserve_slot(
        self,
        request_id: str,
        slot_index: int,
        *,
        sent: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str | None:
        if sent is not None and await self._already_mined(sent):
            return sent
        data = self._encode("reserveSlot", [to_bytes(request_id), slot_index])
        try:
            return await self._transact("reserveSlot", data, on_sent=on_sent)
        except MarketError:
            if await self._holds_reservation(request_id, slot_index):
                return None  # a retry after our reservation landed
            raise

    async def fill_slot(
        self,
        request_id: str,
        slot_index: int,
        proof: Groth16Proof,
        collateral: int,
        *,
        sent: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str | None:
        if sent is not None and await self._already_mined(sent):
            return sent
        sid = slot_id(request_id, slot_index)
        if await self._hosted_by_me(sid):
            return None
        data = self._encode("fillSlot", [to_bytes(request_id), slot_index, proof.abi_tuple()])
        if collateral > 0:
            await self.approve_funds(collateral)
        try:
            return await self._transact("fillSlot", data, on_sent=on_sent)
        except SlotStateMismatchError:
            if await self._hosted_by_me(sid):
                return None
            raise

    async def submit_proof(
        self,
        slot_id: str,
        proof: Groth16Proof,
        *,
        sent: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str | None:
        if sent is not None and await self._already_mined(sent):
            return sent
        data = self._encode("submitProof", [to_bytes(slot_id), proof.abi_tuple()])
        try:
            return await self._transact("submitProof", data, on_sent=on_sent)
        except ContractRevertError as exc:
            # only the slot's host gets past ProofNotSubmittedByHost, so this proof is ours
            if exc.reason == "Proofs_ProofAlreadySubmitted":
                return None
            raise

    async def free_slot(
        self, slot_id: str, *, sent: str | None = None, on_sent: OnSent | None = None
    ) -> str | None:
        """MKT-6: with a reward recipient, freeSlot(id, recipient, signer); else freeSlot(id)."""
        if sent is not None and await self._already_mined(sent):
            return sent
        if self.reward_recipient is not None:
            args = [to_bytes(slot_id), self.reward_recipient, self.address]
            data = self._encode("freeSlotTo", args)
        else:
            data = self._encode("freeSlot", [to_bytes(slot_id)])
        try:
            return await self._transact("freeSlot", data, on_sent=on_sent)
        except ContractRevertError as exc:
            if exc.reason == "Marketplace_AlreadyPaid" and await self._hosted_by_me(slot_id):
                return None  # paid to us by an earlier attempt
            raise

    async def approve_funds(self, amount: int) -> str:
        """MKT-7: approve allowance + amount, atomically with respect to other approvals."""
        token = await self.token()
        async with self._allowance_lock:
            (allowance,) = await self._read("allowance", [self.address, self.marketplace], to=token)
            data = self._encode("approve", [self.marketplace, int(allowance) + amount])
            return await self._transact("approve", data, to=token)

    # --- retry helpers -----------------------------------------------------------------------

    async def _already_mined(self, tx_hash: str) -> bool:
        """True when ``tx_hash`` succeeded; waits while it is still pending in the mempool."""
        try:
            receipt = await self._w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            try:
                await self._w3.eth.get_transaction(HexBytes(tx_hash))
            except TransactionNotFound:
                return False  # never reached the node (or was dropped): send again
            except TRANSIENT as exc:
                raise ChainUnavailableError(f"looking up {tx_hash}: {exc}") from exc
            receipt = await self._wait_receipt(tx_hash)
        except TRANSIENT as exc:
            raise ChainUnavailableError(f"looking up {tx_hash}: {exc}") from exc
        return int(receipt["status"]) == 1

    async def _hosted_by_me(self, slot_id: str) -> bool:
        return await self.get_host(slot_id) == self.address

    async def _holds_reservation(self, request_id: str, slot_index: int) -> bool:
        """Whether the signer holds a reservation, asked through fillSlot's own check.

        Codex's ABI has no reservation view, but fillSlot rejects non-holders with
        ReservationRequired before anything else about the slot; a dry run with an empty proof
        tells holders (any other outcome) from non-holders.
        """
        args = [to_bytes(request_id), slot_index, Groth16Proof.zero().abi_tuple()]
        try:
            await self._call_raw(self._encode("fillSlot", args))
        except RevertError as exc:
            return exc.reason not in (
                "Marketplace_ReservationRequired",
                "Marketplace_UnknownRequest",
                "Marketplace_InvalidSlot",
            )
        return True

    # --- plumbing ----------------------------------------------------------------------------

    @staticmethod
    def _encode(name: str, args: Sequence[Any]) -> bytes:
        signature, inputs, _ = FUNCTIONS[name]
        return keccak(signature.encode())[:4] + encode(inputs, list(args))

    async def _view(
        self, name: str, args: Sequence[Any], *, pending: bool = False, to: str | None = None
    ) -> tuple[Any, ...]:
        """Call a view; reverts raise `RevertError` for the caller to interpret."""
        raw = await self._call_raw(self._encode(name, args), pending=pending, to=to)
        try:
            return tuple(decode(FUNCTIONS[name][2], raw))
        except Exception as exc:
            raise MarketError(f"Failed to decode {name}: {exc}") from exc

    async def _read(
        self, name: str, args: Sequence[Any], *, pending: bool = False, to: str | None = None
    ) -> tuple[Any, ...]:
        """A view whose reverts are plain market errors."""
        try:
            return await self._view(name, args, pending=pending, to=to)
        except RevertError as exc:
            raise MarketError(f"Failed to read {name}: {exc.reason}") from exc

    async def _call_raw(
        self, data: bytes, *, pending: bool = False, to: str | None = None
    ) -> bytes:
        tx: Any = {"from": self.address, "to": to or self.marketplace, "data": data}
        try:
            result = await self._w3.eth.call(tx, "pending" if pending else "latest")
        except ContractLogicError as exc:
            raise RevertError(_revert_data(exc), str(exc)) from exc
        except TRANSIENT as exc:
            raise ChainUnavailableError(f"eth_call failed: {exc}") from exc
        return bytes(result)

    async def _rpc(self, what: str, awaitable: Any) -> Any:
        try:
            return await awaitable
        except TRANSIENT as exc:
            raise ChainUnavailableError(f"{what}: {exc}") from exc

    async def _pending_count(self) -> int:
        count = await self._rpc(
            "nonce", self._w3.eth.get_transaction_count(cast(Any, self.address), "pending")
        )
        return int(count)

    async def _fees(self) -> dict[str, int]:
        block = await self._rpc("latest block", self._w3.eth.get_block("latest"))
        tip = int(await self._rpc("priority fee", self._w3.eth.max_priority_fee))
        base = int(block.get("baseFeePerGas") or 0)
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    async def _transact(
        self,
        operation: str,
        data: bytes,
        *,
        to: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str:
        """Estimate, sign, broadcast and confirm one transaction; reverts become typed errors."""
        target = to or self.marketplace
        call: Any = {"from": self.address, "to": target, "data": data, "value": 0}
        try:
            estimate = await self._w3.eth.estimate_gas(call)
        except ContractLogicError as exc:
            raise contract_error(operation, error_name(_revert_data(exc)) or str(exc)) from exc
        except TRANSIENT as exc:
            raise ChainUnavailableError(f"estimating {operation}: {exc}") from exc
        numerator, denominator = GAS_FACTORS.get(operation, (1, 1))
        gas = int(estimate) * numerator // denominator
        if self._chain_id is None:
            self._chain_id = int(await self._rpc("chain id", self._w3.eth.chain_id))
        fees = await self._fees()
        for attempt in range(NONCE_ATTEMPTS):
            try:
                tx_hash = await self._sign_and_send(operation, call, gas, fees, on_sent)
                break
            except StaleNonceError:
                # another process used this key: the manager re-reads the count, try again
                if attempt == NONCE_ATTEMPTS - 1:
                    raise
        receipt = await self._wait_receipt(tx_hash)
        if int(receipt["status"]) != 1:
            reason = await self._replay_reason(call)
            raise contract_error(operation, reason)
        return tx_hash

    async def _sign_and_send(
        self,
        operation: str,
        call: Any,
        gas: int,
        fees: dict[str, int],
        on_sent: OnSent | None,
    ) -> str:
        async with self._nonces.next_nonce() as nonce:
            tx = {**call, "gas": gas, "nonce": nonce, "chainId": self._chain_id, "type": 2, **fees}
            signed = self.__account.sign_transaction(tx)
            tx_hash = to_hex(bytes(signed.hash))
            if on_sent is not None:
                await on_sent(tx_hash)
            try:
                await self._w3.eth.send_raw_transaction(signed.raw_transaction)
            except SEND_FAILURES as exc:
                text = str(exc).lower()
                if "already known" in text:
                    return tx_hash  # the node has exactly this transaction
                if "nonce too low" in text:
                    raise StaleNonceError(str(exc)) from exc
                # refused (fees, funds) or lost: the nonce manager re-reads the count
                raise ChainUnavailableError(
                    f"{CONTEXT.get(operation, operation)}: sending failed: {exc}"
                ) from exc
        return tx_hash

    async def _wait_receipt(self, tx_hash: str) -> Any:
        try:
            return await self._w3.eth.wait_for_transaction_receipt(
                HexBytes(tx_hash), timeout=self._tx_timeout, poll_latency=self._poll_interval
            )
        except TimeExhausted as exc:
            raise ChainUnavailableError(f"no receipt for {tx_hash} yet: {exc}") from exc
        except TRANSIENT as exc:
            raise ChainUnavailableError(f"waiting for {tx_hash}: {exc}") from exc

    async def _replay_reason(self, call: Any) -> str:
        """Why a mined transaction reverted: replay it as a call (best effort)."""
        try:
            await self._w3.eth.call(call, "latest")
        except ContractLogicError as exc:
            return error_name(_revert_data(exc)) or str(exc)
        except TRANSIENT:
            pass
        return "reverted on chain"


def _revert_data(exc: ContractLogicError) -> str | None:
    data = exc.data
    if isinstance(data, str):
        return data
    if isinstance(data, bytes):
        return to_hex(data)
    return None


__all__ = [
    "ZERO_ADDRESS",
    "ChainUnavailableError",
    "OnChainMarket",
    "RevertError",
    "request_from_abi",
]
