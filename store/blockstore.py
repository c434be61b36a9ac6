"""The host's local block store: one directory per slot under a data directory, within a quota.

<data_dir>/slots/<slot_key>/data      the slot's bytes (exactly slot_size, zero-padded)
<data_dir>/slots/<slot_key>/meta.json SlotMeta (what, where from, expiry, repair flag, state)
<data_dir>/slots/<slot_key>/progress  bytes written so far (the download's resume point)
<data_dir>/slots/<slot_key>/blockhashes  Codex layout only: the 32-byte little-endian Poseidon2
                                      hash of each 64 KiB block, in order (the prover's slot tree)
Metadata writes are atomic (temp file + rename), so a crash never leaves a half-written meta.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from store.errors import (
    InvalidSlotKeyError,
    QuotaExceededError,
    SlotConflictError,
    SlotNotFoundError,
)

_KEY = re.compile(r"^[0-9A-Za-z_-]{1,128}$")


class SlotMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slot_key: str
    cid: str
    slot_index: int
    slot_size: int
    merkle_root: str  # 0x-hex Content.merkleRoot
    slot_roots: list[str] | None = None  # decimal field elements from the manifest
    batch_size: int
    expiry: int | None = None
    is_repairing: bool = False
    reservation_id: str | None = None  # whose bytes the written batches were released from
    complete: bool = False
    layout: str = "dev"  # "dev": proofs/commitment.py; "codex": proofs/poseidon2 (block hashes)
    slot_root: str | None = None  # Codex layout: the verified slot root (decimal)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class BlockStore:
    def __init__(self, data_dir: Path, quota_bytes: int) -> None:
        if quota_bytes < 0:
            raise ValueError("quota must be >= 0")
        self.root = data_dir / "slots"
        self.root.mkdir(parents=True, exist_ok=True)
        self.quota_bytes = quota_bytes

    def _dir(self, key: str) -> Path:
        if not _KEY.match(key):
            raise InvalidSlotKeyError(f"slot key {key!r} must match {_KEY.pattern}")
        return self.root / key

    def data_path(self, key: str) -> Path:
        return self._dir(key) / "data"

    def meta(self, key: str) -> SlotMeta | None:
        path = self._dir(key) / "meta.json"
        if not path.exists():
            return None
        return SlotMeta.model_validate_json(path.read_text())

    def require_meta(self, key: str) -> SlotMeta:
        meta = self.meta(key)
        if meta is None:
            raise SlotNotFoundError(f"no data stored for slot {key}")
        return meta

    def save_meta(self, meta: SlotMeta) -> None:
        _atomic_write(self._dir(meta.slot_key) / "meta.json", meta.model_dump_json())

    def used_bytes(self, exclude: str | None = None) -> int:
        total = 0
        for meta_path in self.root.glob("*/meta.json"):
            if meta_path.parent.name != exclude:
                total += SlotMeta.model_validate_json(meta_path.read_text()).slot_size
        return total

    def allocate(self, meta: SlotMeta) -> SlotMeta:
        """Claim quota and create the slot's directory; returns the stored meta if it exists.

        Idempotent: a retried download finds its own allocation and keeps its progress.
        """
        existing = self.meta(meta.slot_key)
        if existing is not None:
            if (existing.cid, existing.slot_index, existing.slot_size) != (
                meta.cid,
                meta.slot_index,
                meta.slot_size,
            ):
                raise SlotConflictError(
                    f"slot {meta.slot_key} already holds different data; clear it first"
                )
            return existing
        free = self.quota_bytes - self.used_bytes()
        if meta.slot_size > free:
            raise QuotaExceededError(
                f"slot of {meta.slot_size} bytes does not fit: {free} of {self.quota_bytes} free"
            )
        slot_dir = self._dir(meta.slot_key)
        slot_dir.mkdir(exist_ok=True)
        with (slot_dir / "data").open("wb") as f:
            f.truncate(meta.slot_size)
        (slot_dir / "progress").write_text(f"{0:020d}")
        self.save_meta(meta)  # written last: a meta file means a usable allocation
        return meta

    def progress(self, key: str) -> int:
        path = self._dir(key) / "progress"
        return int(path.read_text()) if path.exists() else 0

    def set_progress(self, key: str, offset: int) -> None:
        """Fixed-width in-place write: one small write, no rename per batch (renames cost ms)."""
        with (self._dir(key) / "progress").open("r+b") as f:
            f.write(b"%020d" % offset)

    def write_at(self, key: str, offset: int, data: bytes) -> None:
        with self.data_path(key).open("r+b") as f:
            f.seek(offset)
            f.write(data)

    def read_at(self, key: str, offset: int, size: int) -> bytes:
        with self.data_path(key).open("rb") as f:
            f.seek(offset)
            return f.read(size)

    def block_hashes_path(self, key: str) -> Path:
        return self._dir(key) / "blockhashes"

    def write_block_hashes(self, key: str, first_block: int, raw: bytes) -> None:
        """Store 32-byte block hashes from block `first_block` on (rewriting is idempotent)."""
        path = self.block_hashes_path(key)
        with path.open("r+b" if path.exists() else "wb") as f:
            f.seek(32 * first_block)
            f.write(raw)

    def read_block_hashes(self, key: str) -> bytes:
        path = self.block_hashes_path(key)
        return path.read_bytes() if path.exists() else b""

    def sync(self, key: str) -> None:
        with self.data_path(key).open("r+b") as f:
            os.fsync(f.fileno())
        hashes = self.block_hashes_path(key)
        if hashes.exists():
            with hashes.open("r+b") as f:
                os.fsync(f.fileno())

    def read_slot(self, key: str) -> bytes:
        self.require_meta(key)
        return self.data_path(key).read_bytes()

    def set_expiry(self, key: str, expiry: int) -> SlotMeta:
        meta = self.require_meta(key)
        if meta.expiry != expiry:
            meta = meta.model_copy(update={"expiry": expiry})
            self.save_meta(meta)
        return meta

    def set_expiry_by_cid(self, cid: str, expiry: int) -> int:
        """onExpiryUpdate(cid, expiry) on every slot of the dataset; returns how many."""
        count = 0
        for meta_path in sorted(self.root.glob("*/meta.json")):
            meta = SlotMeta.model_validate_json(meta_path.read_text())
            if meta.cid == cid:
                self.set_expiry(meta.slot_key, expiry)
                count += 1
        return count

    def clear(self, key: str) -> bool:
        """Remove the slot's data; False if there was nothing (idempotent)."""
        slot_dir = self._dir(key)
        if not slot_dir.exists():
            return False
        # meta first: without it the directory no longer counts as an allocation
        (slot_dir / "meta.json").unlink(missing_ok=True)
        shutil.rmtree(slot_dir)
        return True
