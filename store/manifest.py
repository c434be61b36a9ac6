"""What the data server tells a host about a dataset (its manifest)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Manifest(BaseModel):
    """JSON of `GET {base}/api/codex/v1/data/{cid}/network/manifest` (our server's own shape).

    `dataset_root` is Content.merkleRoot as 0x-hex (the field element, 32 bytes little-endian);
    `slot_roots` are decimal field elements. Both are None when the dataset is too large for the
    development commitment (then only unverified storage is possible; see store/README.md).
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    cid: str
    dataset_size: int = Field(alias="datasetSize", ge=0)
    slots: int = Field(ge=1)
    slot_size: int = Field(alias="slotSize", ge=1)
    cell_size: int = Field(alias="cellSize", ge=1)
    dataset_root: str | None = Field(alias="datasetRoot", default=None)
    slot_roots: list[str] | None = Field(alias="slotRoots", default=None)
    layout: Literal["dev", "codex"] = "dev"
    """"dev": the development commitment (proofs/commitment.py, 248-byte cells); "codex": Codex's
    layout (proofs/poseidon2: 2 KiB cells, 64 KiB blocks, Poseidon2 trees)."""

    def slot_root_ints(self) -> list[int] | None:
        return None if self.slot_roots is None else [int(r) for r in self.slot_roots]
