"""Data-store settings from the worker's environment (no secrets here).

STORE_DATA_DIR      where slots live (default ./.data/store)
STORE_QUOTA_BYTES   disk budget for slots (default 20 GiB, Codex's DefaultQuotaBytes)
CODEX_DATA_URL      base URL of the Codex-compatible data source (default http://127.0.0.1:8080)
STORE_BATCH_BYTES   download batch = unit of release and resume (default 1 MiB)
STORE_HASH_THREADS  Codex layout: threads hashing a batch's blocks during onStore (default 1)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from store.blockstore import BlockStore
from store.download import DownloadConfig


@dataclass(frozen=True)
class StoreConfig:
    data_dir: Path = Path(".data/store")
    quota_bytes: int = 20 * 2**30
    source_url: str = "http://127.0.0.1:8080"
    batch_bytes: int = 1 << 20
    hash_threads: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StoreConfig:
        d = cls()
        return cls(
            data_dir=Path(env.get("STORE_DATA_DIR", str(d.data_dir))),
            quota_bytes=int(env.get("STORE_QUOTA_BYTES", str(d.quota_bytes))),
            source_url=env.get("CODEX_DATA_URL", d.source_url),
            batch_bytes=int(env.get("STORE_BATCH_BYTES", str(d.batch_bytes))),
            hash_threads=int(env.get("STORE_HASH_THREADS", str(d.hash_threads))),
        )

    def block_store(self) -> BlockStore:
        return BlockStore(self.data_dir, self.quota_bytes)

    def download(self) -> DownloadConfig:
        return DownloadConfig(
            base_url=self.source_url, batch_size=self.batch_bytes, hash_threads=self.hash_threads
        )
