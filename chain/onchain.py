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
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import aiohttp
from eth_abi.abi import decode, encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import (
    BadResponseFormat,
    ContractLogicError,
    ProviderConnectionError,
    TransactionNotFound,
    Web3RPCError,
    Web3TypeError,
    Web3ValueError,
)

from chain.errors import CONTEXT, ContractRevertError, contract_error, error_name
from chain.market import (
    MarketError,
    OnSent,
    ProvingBatch,
    ProvingSnapshot,
    SlotStateMismatchError,
)
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
from sales.redact import redact_text

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

SNAPSHOT_VIEWS = (
    "slotState",
    "getHost",
    "getPointer",
    "getChallenge",
    "isProofRequired",
    "willProofBeRequired",
)
"""The per-slot views of a batched proving read (`proving_snapshots`)."""
BATCH_CALLS = 500
"""eth_calls per JSON-RPC batch request: large enough for few round trips, small enough for a
node's batch limit (geth allows 1000 by default)."""

DEFAULT_REQUEST_CACHE_SIZE = 128
BLOCK_TIME_WINDOW = 32
"""Blocks over which the mean block interval is measured (for the time to a pointer wrap)."""
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
    BadResponseFormat,
    Web3ValueError,
    Web3TypeError,
)
"""Failures of the endpoint, not of the call: worth retrying later (web3's value and type
errors come from formatting a result the endpoint sent malformed)."""
MALFORMED: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
)
"""What web3's result formatters (and our conversions) raise on a result of the wrong shape."""
SEND_FAILURES: tuple[type[BaseException], ...] = (*TRANSIENT, ValueError)
RECEIPT_NOT_YET: tuple[type[BaseException], ...] = (TransactionNotFound, *TRANSIENT, *MALFORMED)


log = logging.getLogger(__name__)

T = TypeVar("T")


class ChainUnavailableError(ConnectionError):
    """The RPC endpoint failed or timed out: transient, retry later (not a business error).

    The message is redacted: HTTP errors quote the endpoint's URL, which may hold an API key,
    and this message reaches logs and the activity's failure in the workflow history. It is
    also cut to MAX_MESSAGE characters: an endpoint answering garbage can put megabytes into a
    decoder's message, and the Temporal server replaces a failure that large with "Failure
    exceeds size limit", which hides what went wrong."""

    MAX_MESSAGE = 1_000

    def __init__(self, message: str = "") -> None:
        message = redact_text(message)
        if len(message) > self.MAX_MESSAGE:
            message = f"{message[: self.MAX_MESSAGE]}… ({len(message):,} characters in all)"
        super().__init__(message)


class MalformedResponseError(ChainUnavailableError):
    """The endpoint answered with something that is not a valid result (truncated, wrong type,
    out of range): a transport failure like a timeout, retried, never a business error."""


@contextmanager
def malformed(what: str) -> Iterator[None]:
    """Turn a conversion of an RPC result that fails into `MalformedResponseError`."""
    try:
        yield
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise MalformedResponseError(f"malformed RPC result of {what}: {exc}") from exc


class StaleNonceError(ChainUnavailableError):
    """The node already has a transaction with our nonce (the key was used elsewhere)."""


NONCE_ATTEMPTS = 3


class ReadOnlyMarketError(RuntimeError):
    """A transaction on a market built without the signer key (a wiring bug: not retried into
    success, not a business outcome either)."""


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
        private_key: str | None,
        *,
        address: str | None = None,
        reward_recipient: str | None = None,
        request_cache_size: int = DEFAULT_REQUEST_CACHE_SIZE,
        tx_timeout: float = 120.0,
        poll_interval: float = 0.05,
        resend_after: float = 30.0,
        fee_bumps: int = 3,
        max_fee_per_gas: int | None = None,
    ) -> None:
        """``tx_timeout`` bounds the wait for a receipt; a transaction still without one after
        ``resend_after`` seconds is signed again, same nonce, at higher fees (``fee_bumps`` times
        at most), so a fee spike cannot hold the signer's nonce queue. ``max_fee_per_gas`` (wei)
        caps what any transaction may offer, bumps included: above it, the host waits.

        Without ``private_key`` the market is read-only (the `sales` role): reads are made as
        ``address`` and a transaction raises `ReadOnlyMarketError`."""
        if max_fee_per_gas is not None and max_fee_per_gas <= 0:
            raise ValueError("max_fee_per_gas must be positive")
        self._w3 = w3
        self.marketplace: str = AsyncWeb3.to_checksum_address(marketplace)
        self.__account: LocalAccount | None = Account.from_key(private_key) if private_key else None
        if self.__account is not None:
            self.address: str = str(self.__account.address)
        elif address:
            self.address = AsyncWeb3.to_checksum_address(address)
        else:
            raise ValueError("a market needs the signer key or, read-only, the host address")
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
        self._resend_after = resend_after
        self._fee_bumps = fee_bumps
        self._max_fee = max_fee_per_gas

    @classmethod
    def connect(
        cls, rpc_url: str, marketplace: str, private_key: str | None, **options: Any
    ) -> "OnChainMarket":
        """Build over an HTTP JSON-RPC endpoint (no I/O until the first call)."""
        return cls(AsyncWeb3(AsyncHTTPProvider(rpc_url)), marketplace, private_key, **options)

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(marketplace={self.marketplace}, signer={self.address})"

    def _signer(self) -> LocalAccount:
        if self.__account is None:
            raise ReadOnlyMarketError(
                f"{self!r} has no signing key: transactions belong to the chain-tx role"
            )
        return self.__account

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
            with malformed("configuration"):
                self._config = MarketplaceConfig.from_abi(raw)
        return self._config

    async def token(self) -> str:
        if self._token is None:
            (token,) = await self._view("token", [])
            self._token = AsyncWeb3.to_checksum_address(token)
        return self._token

    async def current_time(self) -> int:
        block = await self._rpc("latest block", self._w3.eth.get_block("latest"))
        with malformed("latest block"):
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
        with malformed("getRequest"):
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
        with malformed("requestState"):
            return RequestState(state)

    async def slot_state(self, slot_id: str) -> SlotState:
        (state,) = await self._read("slotState", [to_bytes(slot_id)], pending=True)
        with malformed("slotState"):
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
        with malformed("getActiveSlot"):
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

    async def _proof_flag(self, name: str, slot_id: str, block: int | None = None) -> bool:
        try:
            (flag,) = await self._view(name, [to_bytes(slot_id)], pending=True, block=block)
        except RevertError as exc:
            if exc.reason == "Marketplace_SlotIsFree":
                return False  # MKT-3
            raise MarketError(f"Failed to read {name}: {exc.reason}") from exc
        return bool(flag)

    async def proving_snapshot(self, slot_id: str, request_id: str) -> ProvingSnapshot:
        """Every read at the latest block N: the period (N's timestamp), the pointer and the
        challenge agree. A proof for this challenge stays valid until the pointer wraps."""
        block = await self._rpc("latest block", self._w3.eth.get_block("latest"))
        with malformed("latest block"):
            number, timestamp = int(block["number"]), int(block["timestamp"])
        sid = to_bytes(slot_id)
        (state,) = await self._read("slotState", [sid], block=number)
        try:
            (request_state,) = await self._view(
                "requestState", [to_bytes(request_id)], block=number
            )
            with malformed("requestState"):
                known: RequestState | None = RequestState(request_state)
        except RevertError as exc:
            if exc.reason != "Marketplace_UnknownRequest":
                raise MarketError(f"Failed to read request state: {exc.reason}") from exc
            known = None
        (host,) = await self._read("getHost", [sid], block=number)
        (pointer,) = await self._read("getPointer", [sid], block=number)
        (challenge,) = await self._read("getChallenge", [sid], block=number)
        with malformed("slotState"):
            slot_state = SlotState(state)
        return ProvingSnapshot(
            block_number=number,
            timestamp=timestamp,
            seconds_per_block=await self._seconds_per_block(number, timestamp),
            slot_state=slot_state,
            request_state=known,
            host=None if int(host, 16) == 0 else AsyncWeb3.to_checksum_address(host),
            pointer=int(pointer),
            challenge=to_hex(challenge),
            proof_required=await self._proof_flag("isProofRequired", slot_id, number),
            proof_will_be_required=await self._proof_flag("willProofBeRequired", slot_id, number),
        )

    async def proving_snapshots(self, slots: Sequence[tuple[str, str]]) -> ProvingBatch:
        """`proving_snapshot` of every (slot id, request id) at the latest block, as JSON-RPC
        batches of eth_call pinned to that block: six views per slot, one per request."""
        block = await self._rpc("latest block", self._w3.eth.get_block("latest"))
        number, timestamp = int(block["number"]), int(block["timestamp"])
        requests = list(dict.fromkeys(request_id.lower() for _, request_id in slots))
        calls = [self._encode("requestState", [to_bytes(r)]) for r in requests]
        for sid, _ in slots:
            arg = [to_bytes(sid)]
            calls.extend(self._encode(name, arg) for name in SNAPSHOT_VIEWS)
        results = await self._batch_call(calls, number)
        request_states = dict(zip(requests, results[: len(requests)], strict=True))
        snapshots: dict[str, ProvingSnapshot] = {}
        per_slot = len(SNAPSHOT_VIEWS)
        spb = await self._seconds_per_block(number, timestamp)
        for n, (sid, request_id) in enumerate(slots):
            start = len(requests) + n * per_slot
            views = dict(zip(SNAPSHOT_VIEWS, results[start : start + per_slot], strict=True))
            try:
                snapshots[sid] = self._snapshot_of(
                    views, request_states[request_id.lower()], number, timestamp, spb
                )
            except MarketError as exc:  # one odd slot must not blind the read of all others
                log.warning("batched proving read skips slot %s: %s", sid, exc)
        return ProvingBatch(
            block_number=number, timestamp=timestamp, seconds_per_block=spb, snapshots=snapshots
        )

    def _snapshot_of(
        self,
        views: Mapping[str, bytes | RevertError],
        request_state: bytes | RevertError,
        number: int,
        timestamp: int,
        spb: float,
    ) -> ProvingSnapshot:
        (host,) = self._decoded("getHost", views["getHost"])
        return ProvingSnapshot(
            block_number=number,
            timestamp=timestamp,
            seconds_per_block=spb,
            slot_state=SlotState(self._decoded("slotState", views["slotState"])[0]),
            request_state=self._request_state_of(request_state),
            host=None if int(host, 16) == 0 else AsyncWeb3.to_checksum_address(host),
            pointer=int(self._decoded("getPointer", views["getPointer"])[0]),
            challenge=to_hex(self._decoded("getChallenge", views["getChallenge"])[0]),
            proof_required=self._flag("isProofRequired", views["isProofRequired"]),
            proof_will_be_required=self._flag("willProofBeRequired", views["willProofBeRequired"]),
        )

    async def _batch_call(self, calls: Sequence[bytes], block: int) -> list[bytes | RevertError]:
        """eth_call each of `calls` at `block`, BATCH_CALLS per JSON-RPC batch request."""
        results: list[bytes | RevertError] = []
        at = hex(block)
        for start in range(0, len(calls), BATCH_CALLS):
            chunk = calls[start : start + BATCH_CALLS]
            requests: list[tuple[Any, Any]] = [
                (
                    "eth_call",
                    [{"from": self.address, "to": self.marketplace, "data": to_hex(c)}, at],
                )
                for c in chunk
            ]
            try:
                responses = await self._w3.provider.make_batch_request(requests)
            except TRANSIENT as exc:
                raise ChainUnavailableError(f"eth_call batch failed: {exc}") from exc
            if not isinstance(responses, list) or len(responses) != len(chunk):
                raise ChainUnavailableError(f"eth_call batch refused: {responses!r}"[:300])
            for response in responses:
                error = response.get("error")
                if error is None:
                    results.append(to_bytes(str(response.get("result") or "0x")))
                    continue
                message = str(error.get("message", "")) if isinstance(error, Mapping) else ""
                if not isinstance(error, Mapping) or not (
                    "data" in error or "revert" in message.lower()
                ):
                    raise ChainUnavailableError(f"eth_call in batch failed: {error!r}"[:300])
                data = error.get("data")
                results.append(RevertError(data if isinstance(data, str) else None, message))
        return results

    @staticmethod
    def _decoded(name: str, result: bytes | RevertError) -> tuple[Any, ...]:
        if isinstance(result, RevertError):
            raise MarketError(f"Failed to read {name}: {result.reason}")
        try:
            return tuple(decode(FUNCTIONS[name][2], result))
        except Exception as exc:
            raise MarketError(f"Failed to decode {name}: {exc}") from exc

    def _flag(self, name: str, result: bytes | RevertError) -> bool:
        """A proof flag; a free slot has none (MKT-3), as in `_proof_flag`."""
        if isinstance(result, RevertError) and result.reason == "Marketplace_SlotIsFree":
            return False
        return bool(self._decoded(name, result)[0])

    def _request_state_of(self, result: bytes | RevertError) -> RequestState | None:
        if isinstance(result, RevertError) and result.reason == "Marketplace_UnknownRequest":
            return None
        return RequestState(self._decoded("requestState", result)[0])

    async def _seconds_per_block(self, number: int, timestamp: int) -> float:
        """The mean block interval over the last BLOCK_TIME_WINDOW blocks (at least 1 s)."""
        back = min(BLOCK_TIME_WINDOW, number)
        if back == 0:
            return 1.0
        earlier = await self._rpc("block", self._w3.eth.get_block(number - back))
        with malformed("block"):
            return max(1.0, (timestamp - int(earlier["timestamp"])) / back)

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
        try:
            return await self.spending(
                collateral, lambda: self._transact("fillSlot", data, on_sent=on_sent)
            )
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

    async def allowance(self) -> int:
        """What the marketplace may take from the signer now."""
        token = await self.token()
        (allowance,) = await self._read("allowance", [self.address, self.marketplace], to=token)
        return int(allowance)

    async def approve_funds(self, amount: int) -> str | None:
        """MKT-7, exactly: set the marketplace's allowance to ``amount`` (not add to it).

        None when it already is ``amount``, so a retried fill whose approval landed sends no
        second approval, and the allowance never exceeds what one transaction needs. Callers
        spending it go through `spending`, which keeps the approval and its spender together.
        """
        if await self.allowance() == amount:
            return None
        token = await self.token()
        data = self._encode("approve", [self.marketplace, amount])
        return await self._transact("approve", data, to=token)

    async def spending(self, amount: int, send: Callable[[], Awaitable[T]]) -> T:
        """Approve exactly ``amount`` and run ``send`` (the transaction spending it) while no
        other spender of this signer can set the allowance to its own amount in between."""
        async with self._allowance_lock:
            if amount > 0:
                await self.approve_funds(amount)
            return await send()

    # --- retry helpers -----------------------------------------------------------------------

    async def _already_mined(self, tx_hash: str) -> bool:
        """True when ``tx_hash`` succeeded; waits while it is still pending in the mempool."""
        try:
            receipt = await self._w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            try:
                pending = await self._w3.eth.get_transaction(HexBytes(tx_hash))
            except TransactionNotFound:
                return False  # never reached the node (or was dropped): send again
            except (*TRANSIENT, *MALFORMED) as exc:
                raise ChainUnavailableError(f"looking up {tx_hash}: {exc}") from exc
            receipt = await self._confirm("retry", self._resendable(pending), tx_hash, None)
        except (*TRANSIENT, *MALFORMED) as exc:
            raise ChainUnavailableError(f"looking up {tx_hash}: {exc}") from exc
        with malformed("receipt"):
            return int(receipt["status"]) == 1

    def _resendable(self, pending: Any) -> dict[str, Any] | None:
        """A pending transaction of ours as signable fields (None if it is not ours/EIP-1559)."""
        if pending.get("from") != self.address or int(pending.get("type", 0)) != 2:
            return None
        return {
            "from": self.address,
            "to": pending["to"],
            "data": bytes(pending["input"]),
            "value": int(pending["value"]),
            "gas": int(pending["gas"]),
            "nonce": int(pending["nonce"]),
            "chainId": int(pending["chainId"]),
            "type": 2,
            "maxFeePerGas": int(pending["maxFeePerGas"]),
            "maxPriorityFeePerGas": int(pending["maxPriorityFeePerGas"]),
        }

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
        self,
        name: str,
        args: Sequence[Any],
        *,
        pending: bool = False,
        to: str | None = None,
        block: int | None = None,
    ) -> tuple[Any, ...]:
        """Call a view (at `block` when given); reverts raise `RevertError` for the caller."""
        raw = await self._call_raw(self._encode(name, args), pending=pending, to=to, block=block)
        try:
            return tuple(decode(FUNCTIONS[name][2], raw))
        except Exception as exc:  # a truncated or hostile result: the endpoint's fault, retry
            raise MalformedResponseError(f"malformed RPC result of {name}: {exc}") from exc

    async def _read(
        self,
        name: str,
        args: Sequence[Any],
        *,
        pending: bool = False,
        to: str | None = None,
        block: int | None = None,
    ) -> tuple[Any, ...]:
        """A view whose reverts are plain market errors."""
        try:
            return await self._view(name, args, pending=pending, to=to, block=block)
        except RevertError as exc:
            raise MarketError(f"Failed to read {name}: {exc.reason}") from exc

    async def _call_raw(
        self, data: bytes, *, pending: bool = False, to: str | None = None, block: int | None = None
    ) -> bytes:
        tx: Any = {"from": self.address, "to": to or self.marketplace, "data": data}
        at: Any = block if block is not None else ("pending" if pending else "latest")
        try:
            result = await self._w3.eth.call(tx, at)
        except ContractLogicError as exc:
            raise RevertError(_revert_data(exc), str(exc)) from exc
        except TRANSIENT as exc:
            raise ChainUnavailableError(f"eth_call failed: {exc}") from exc
        except MALFORMED as exc:
            raise MalformedResponseError(f"malformed eth_call result: {exc}") from exc
        with malformed("eth_call"):
            return bytes(result)

    async def _rpc(self, what: str, awaitable: Any) -> Any:
        try:
            return await awaitable
        except TRANSIENT as exc:
            raise ChainUnavailableError(f"{what}: {exc}") from exc
        except MALFORMED as exc:
            raise MalformedResponseError(f"malformed result of {what}: {exc}") from exc

    async def _pending_count(self) -> int:
        count = await self._rpc(
            "nonce", self._w3.eth.get_transaction_count(cast(Any, self.address), "pending")
        )
        return int(count)

    async def _fees(self) -> dict[str, int]:
        block = await self._rpc("latest block", self._w3.eth.get_block("latest"))
        tip = int(await self._rpc("priority fee", self._w3.eth.max_priority_fee))
        base = int(block.get("baseFeePerGas") or 0)
        return capped({"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}, self._max_fee)

    async def _transact(
        self,
        operation: str,
        data: bytes,
        *,
        to: str | None = None,
        on_sent: OnSent | None = None,
    ) -> str:
        """Estimate, sign, broadcast and confirm one transaction; reverts become typed errors."""
        self._signer()  # a read-only market refuses before estimating
        target = to or self.marketplace
        call: Any = {"from": self.address, "to": target, "data": data, "value": 0}
        try:
            estimate = await self._w3.eth.estimate_gas(call)
        except ContractLogicError as exc:
            raise contract_error(operation, error_name(_revert_data(exc)) or str(exc)) from exc
        except TRANSIENT as exc:
            raise ChainUnavailableError(f"estimating {operation}: {exc}") from exc
        except MALFORMED as exc:
            raise MalformedResponseError(f"malformed gas estimate of {operation}: {exc}") from exc
        numerator, denominator = GAS_FACTORS.get(operation, (1, 1))
        gas = int(estimate) * numerator // denominator
        if self._chain_id is None:
            self._chain_id = int(await self._rpc("chain id", self._w3.eth.chain_id))
        fees = await self._fees()
        for attempt in range(NONCE_ATTEMPTS):
            try:
                tx_hash, tx = await self._sign_and_send(operation, call, gas, fees, on_sent)
                break
            except StaleNonceError:
                # another process used this key: the manager re-reads the count, try again
                if attempt == NONCE_ATTEMPTS - 1:
                    raise
        receipt = await self._confirm(operation, tx, tx_hash, on_sent)
        if int(receipt["status"]) != 1:
            reason = await self._replay_reason(call)
            raise contract_error(operation, reason)
        return to_hex(bytes(receipt["transactionHash"]))  # the version that was mined

    async def _sign_and_send(
        self,
        operation: str,
        call: Any,
        gas: int,
        fees: dict[str, int],
        on_sent: OnSent | None,
    ) -> tuple[str, dict[str, Any]]:
        async with self._nonces.next_nonce() as nonce:
            tx = {**call, "gas": gas, "nonce": nonce, "chainId": self._chain_id, "type": 2, **fees}
            signed = self._signer().sign_transaction(tx)
            tx_hash = to_hex(bytes(signed.hash))
            if on_sent is not None:
                await on_sent(tx_hash)
            try:
                await self._w3.eth.send_raw_transaction(signed.raw_transaction)
            except SEND_FAILURES as exc:
                text = str(exc).lower()
                if "already known" in text:
                    return tx_hash, tx  # the node has exactly this transaction
                if "nonce too low" in text:
                    raise StaleNonceError(str(exc)) from exc
                # refused (fees, funds) or lost: the nonce manager re-reads the count
                raise ChainUnavailableError(
                    f"{CONTEXT.get(operation, operation)}: sending failed: {exc}"
                ) from exc
        return tx_hash, tx

    async def _confirm(
        self, operation: str, tx: dict[str, Any] | None, tx_hash: str, on_sent: OnSent | None
    ) -> Any:
        """The receipt of whichever version of ``tx`` is mined; the newest version is re-signed
        at bumped fees each time ``resend_after`` passes without a receipt (``tx`` None: wait
        without re-signing)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._tx_timeout
        hashes, bumps = [tx_hash], 0
        max_bumps = self._fee_bumps if tx is not None else 0
        while True:
            remaining = deadline - loop.time()
            if bumps < max_bumps:
                remaining = min(remaining, self._resend_after)
            receipt = await self._first_receipt(hashes, max(0.0, remaining))
            if receipt is not None:
                return receipt
            if tx is None or bumps >= max_bumps or loop.time() >= deadline:
                raise ChainUnavailableError(
                    f"no receipt for {operation} ({hashes[-1]}) after {self._tx_timeout:.0f}s "
                    f"and {bumps} fee bump(s)"
                )
            bumps += 1
            fees = bumped_fees(tx, await self._fees(), self._max_fee)
            if fees is None:
                log.warning("%s: no receipt yet and the fee cap allows no bump", operation)
                continue
            tx = {**tx, **fees}
            replacement = await self._resend(operation, tx, on_sent)
            if replacement is not None:
                hashes.append(replacement)

    async def _first_receipt(self, hashes: Sequence[str], within: float) -> Any:
        """The first receipt found for any of ``hashes`` within ``within`` seconds, else None."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for tx_hash in hashes:
                try:
                    return await self._w3.eth.get_transaction_receipt(HexBytes(tx_hash))
                except RECEIPT_NOT_YET:
                    continue  # pending, replaced, or the endpoint hiccuped: keep looking
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(self._poll_interval)

    async def _resend(
        self, operation: str, tx: dict[str, Any], on_sent: OnSent | None
    ) -> str | None:
        """Broadcast a replacement (same nonce); None when the node keeps the earlier version.

        Unlike a first broadcast, ``on_sent`` hears of a replacement only once the node has
        it: a refused one must not displace the recorded hash a retry will look up."""
        signed = self._signer().sign_transaction(tx)
        tx_hash = to_hex(bytes(signed.hash))
        try:
            await self._w3.eth.send_raw_transaction(signed.raw_transaction)
        except SEND_FAILURES as exc:
            if "already known" not in str(exc).lower():
                # "nonce too low": an earlier version was mined; "underpriced" or an outage:
                # the earlier version stands. Either way its receipt is what we wait for.
                log.warning("%s: fee bump not taken: %s", CONTEXT.get(operation, operation), exc)
                return None
        if on_sent is not None:
            await on_sent(tx_hash)
        log.info("%s: no receipt yet, re-sent at higher fees as %s", operation, tx_hash)
        return tx_hash

    async def _replay_reason(self, call: Any) -> str:
        """Why a mined transaction reverted: replay it as a call (best effort)."""
        try:
            await self._w3.eth.call(call, "latest")
        except ContractLogicError as exc:
            return error_name(_revert_data(exc)) or str(exc)
        except TRANSIENT:
            pass
        return "reverted on chain"


def bumped_fees(
    sent: Mapping[str, Any], now: Mapping[str, int], cap: int | None = None
) -> dict[str, int] | None:
    """Fees for a replacement: at least 1/8 above the sent ones (nodes demand +10% on both)
    and at least what the market asks now; None when ``cap`` leaves no room for that."""
    tip = max(now["maxPriorityFeePerGas"], _raised(int(sent["maxPriorityFeePerGas"])))
    market = now["maxFeePerGas"] - now["maxPriorityFeePerGas"] + tip  # 2 x base fee + tip
    fee = max(market, _raised(int(sent["maxFeePerGas"])), tip)
    if cap is not None and fee > cap:
        return None  # a replacement within the cap would be refused as underpriced
    return {"maxFeePerGas": fee, "maxPriorityFeePerGas": tip}


def capped(fees: dict[str, int], cap: int | None) -> dict[str, int]:
    """First-broadcast fees within ``cap``: the transaction waits for the base fee to fall."""
    if cap is None or fees["maxFeePerGas"] <= cap:
        return fees
    return {"maxFeePerGas": cap, "maxPriorityFeePerGas": min(fees["maxPriorityFeePerGas"], cap)}


def _raised(fee: int) -> int:
    return fee + fee // 8 + 1


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
