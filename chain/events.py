"""Marketplace events as typed models, and a strict decoder for raw logs (MKT-11).

The follower and the fake market both produce these models, so workflows see one shape whether the
events came from a chain or from memory. The decoder trusts nothing: a log from another contract,
with an unknown topic, the wrong number of topics or truncated data raises `LogDecodeError` with
the reason, and the follower skips it (MKT-11: "a decoding error is logged and the callback is
skipped").
"""

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak
from pydantic import Field, TypeAdapter, ValidationError

from sales.api import ChainEvent
from sales.hexbytes import Bytes32, to_hex
from sales.models import Frozen, StorageAsk
from sales.uint import Timestamp, Uint64

ASK_TUPLE = "(uint256,uint256,uint256,uint64,uint64,uint64,uint64)"

SIGNATURES: dict[str, str] = {
    "StorageRequested": f"StorageRequested(bytes32,{ASK_TUPLE},uint64)",
    "RequestFulfilled": "RequestFulfilled(bytes32)",
    "RequestFailed": "RequestFailed(bytes32)",
    "SlotFilled": "SlotFilled(bytes32,uint64)",
    "SlotFreed": "SlotFreed(bytes32,uint64)",
    "RequestCancelled": "RequestCancelled(bytes32)",
    "SlotReservationsFull": "SlotReservationsFull(bytes32,uint64)",
    "ProofSubmitted": "ProofSubmitted(bytes32)",
}
"""Canonical signatures (user-defined value types replaced by bytes32/uint64), ABI §4."""

TOPICS: dict[str, str] = {name: to_hex(keccak(sig.encode())) for name, sig in SIGNATURES.items()}
"""Event name -> topic0 (0x-hex)."""

EVENT_BY_TOPIC: dict[str, str] = {topic: name for name, topic in TOPICS.items()}


class LogDecodeError(ValueError):
    """A log that is not a well-formed marketplace event; the message says why."""


class EventBase(Frozen):
    """Where an event sits in the chain; ``key`` is unique per log and dedupes deliveries."""

    block_number: Uint64
    block_timestamp: Timestamp
    """The block's time: SlotFreed's time opens the freed slot's dispersal window."""
    tx_hash: Bytes32
    log_index: Uint64

    @property
    def key(self) -> str:
        return f"{self.tx_hash}:{self.log_index}"

    @property
    def position(self) -> tuple[int, int]:
        """Chain order: (block number, log index)."""
        return (self.block_number, self.log_index)


class StorageRequested(EventBase):
    kind: Literal["StorageRequested"] = "StorageRequested"
    request_id: Bytes32
    ask: StorageAsk
    expires_at: Timestamp
    """The absolute expiry (the contract's `expiresAt`), not the request's relative expiry."""


class RequestFulfilled(EventBase):
    kind: Literal["RequestFulfilled"] = "RequestFulfilled"
    request_id: Bytes32


class RequestFailed(EventBase):
    kind: Literal["RequestFailed"] = "RequestFailed"
    request_id: Bytes32


class RequestCancelled(EventBase):
    kind: Literal["RequestCancelled"] = "RequestCancelled"
    request_id: Bytes32


class SlotFilled(EventBase):
    kind: Literal["SlotFilled"] = "SlotFilled"
    request_id: Bytes32
    slot_index: Uint64


class SlotFreed(EventBase):
    kind: Literal["SlotFreed"] = "SlotFreed"
    request_id: Bytes32
    slot_index: Uint64


class SlotReservationsFull(EventBase):
    kind: Literal["SlotReservationsFull"] = "SlotReservationsFull"
    request_id: Bytes32
    slot_index: Uint64


class ProofSubmitted(EventBase):
    kind: Literal["ProofSubmitted"] = "ProofSubmitted"
    slot_id: Bytes32


AnyEvent = (
    StorageRequested
    | RequestFulfilled
    | RequestFailed
    | RequestCancelled
    | SlotFilled
    | SlotFreed
    | SlotReservationsFull
    | ProofSubmitted
)
"""Any decoded marketplace event; ``kind`` is the event name."""

MarketEvent = Annotated[AnyEvent, Field(discriminator="kind")]
"""`AnyEvent` as a pydantic tagged union (for payloads that carry an event)."""

MARKET_EVENT_ADAPTER: TypeAdapter[MarketEvent] = TypeAdapter(MarketEvent)


# --- raw log decoding ----------------------------------------------------------------------------

# name -> (number of topics incl. topic0, ABI types of the data)
_LAYOUT: dict[str, tuple[int, list[str]]] = {
    "StorageRequested": (1, ["bytes32", ASK_TUPLE, "uint64"]),
    "RequestFulfilled": (2, []),
    "RequestFailed": (2, []),
    "RequestCancelled": (2, []),
    "SlotFilled": (2, ["uint64"]),
    "SlotFreed": (2, ["uint64"]),
    "SlotReservationsFull": (2, ["uint64"]),
    "ProofSubmitted": (1, ["bytes32"]),
}
_DATA_WORDS = {"StorageRequested": 9, "SlotFilled": 1, "SlotFreed": 1, "SlotReservationsFull": 1}


def _raw_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        text = value[2:] if value.startswith(("0x", "0X")) else value
        try:
            return bytes.fromhex(text)
        except ValueError as exc:
            raise LogDecodeError(f"{what} is not hex: {value!r}") from exc
    raise LogDecodeError(f"{what} has unexpected type {type(value).__name__}")


def _raw_int(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.startswith("0x") else int(value)
        except ValueError as exc:
            raise LogDecodeError(f"{what} is not a number: {value!r}") from exc
    raise LogDecodeError(f"{what} has unexpected type {type(value).__name__}")


def log_position(log: Mapping[str, Any]) -> tuple[int, int]:
    """(blockNumber, logIndex) of a raw log, for ordering and cursor checks."""
    return (
        _raw_int(log.get("blockNumber"), "blockNumber"),
        _raw_int(log.get("logIndex"), "logIndex"),
    )


def decode_log(log: Mapping[str, Any], *, marketplace: str, block_timestamp: int) -> AnyEvent:
    """Decode one raw log (JSON-RPC dict or web3's formatted log) into its event model.

    Raises `LogDecodeError` when the log is not a well-formed event of this marketplace.
    """
    address = _raw_bytes(log.get("address", b""), "address")
    if address != _raw_bytes(marketplace, "marketplace address"):
        raise LogDecodeError(f"log from another contract {to_hex(address)}")
    if log.get("removed"):
        raise LogDecodeError("log was removed by a reorg")
    raw_topics = log.get("topics") or []
    if not isinstance(raw_topics, list | tuple):
        raise LogDecodeError(f"topics has unexpected type {type(raw_topics).__name__}")
    topics = [_raw_bytes(t, "topic") for t in raw_topics]
    if not topics:
        raise LogDecodeError("anonymous log without topics")
    topic0 = to_hex(topics[0])
    name = EVENT_BY_TOPIC.get(topic0)
    if name is None:
        raise LogDecodeError(f"unknown event topic {topic0}")
    n_topics, types = _LAYOUT[name]
    if len(topics) != n_topics:
        raise LogDecodeError(f"{name} needs {n_topics} topics, log has {len(topics)}")
    if any(len(t) != 32 for t in topics):
        raise LogDecodeError(f"{name} has a topic that is not 32 bytes")
    data = _raw_bytes(log.get("data", b""), "data")
    words = _DATA_WORDS.get(name, len(types))
    if len(data) != 32 * words:
        raise LogDecodeError(f"{name} data is {len(data)} bytes, expected {32 * words}")
    try:
        values = decode(types, data) if types else ()
    except (DecodingError, ValueError) as exc:
        raise LogDecodeError(f"{name} data does not decode: {exc}") from exc
    base: dict[str, Any] = {
        "block_number": _raw_int(log.get("blockNumber"), "blockNumber"),
        "block_timestamp": block_timestamp,
        "tx_hash": _raw_bytes(log.get("transactionHash"), "transactionHash"),
        "log_index": _raw_int(log.get("logIndex"), "logIndex"),
    }
    try:
        if name == "StorageRequested":
            request_id, ask, expires_at = values
            fields = dict(zip(StorageAsk.model_fields, ask, strict=True))
            return StorageRequested(
                **base, request_id=request_id, ask=StorageAsk(**fields), expires_at=expires_at
            )
        if name == "ProofSubmitted":
            return ProofSubmitted(**base, slot_id=values[0])
        request_id = topics[1]
        if name == "SlotFilled":
            return SlotFilled(**base, request_id=request_id, slot_index=values[0])
        if name == "SlotFreed":
            return SlotFreed(**base, request_id=request_id, slot_index=values[0])
        if name == "SlotReservationsFull":
            return SlotReservationsFull(**base, request_id=request_id, slot_index=values[0])
        if name == "RequestFulfilled":
            return RequestFulfilled(**base, request_id=request_id)
        if name == "RequestFailed":
            return RequestFailed(**base, request_id=request_id)
        return RequestCancelled(**base, request_id=request_id)
    except ValidationError as exc:
        raise LogDecodeError(f"{name} has out-of-range fields: {exc.errors()[0]['msg']}") from exc


def to_chain_event(event: AnyEvent) -> ChainEvent | None:
    """The workflow-signal payload of an event (sales.api.ChainEvent); None for ProofSubmitted."""
    if isinstance(event, ProofSubmitted):
        return None
    slot_index = getattr(event, "slot_index", None)
    return ChainEvent(key=event.key, request_id=event.request_id, slot_index=slot_index)
