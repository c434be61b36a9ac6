"""The client side of the data server: upload a dataset, get what a storage request needs.

    .venv/bin/python -m store.client --url http://127.0.0.1:PORT --slots 3 FILE

prints JSON {cid, cidBytes, merkleRoot, slots, slotSize}: `cidBytes` (binary CIDv1, 0x-hex) goes
in Content.cid as nim-codex does, `merkleRoot` in Content.merkleRoot, `slotSize` in Ask.slotSize.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from store.cid import cid_bytes
from store.errors import SourceError


@dataclass(frozen=True)
class Uploaded:
    cid: str
    merkle_root: bytes  # Content.merkleRoot (dataset root, 32 bytes little-endian)
    slots: int
    slot_size: int

    @property
    def cid_bytes(self) -> bytes:
        return cid_bytes(self.cid)

    def as_json(self) -> dict[str, object]:
        return {
            "cid": self.cid,
            "cidBytes": "0x" + self.cid_bytes.hex(),
            "merkleRoot": "0x" + self.merkle_root.hex(),
            "slots": self.slots,
            "slotSize": self.slot_size,
        }


async def upload(base_url: str, data: bytes, slots: int, layout: str | None = None) -> Uploaded:
    """Upload; `layout` ("dev" or "codex") overrides the server's default commitment layout."""
    url = f"{base_url.rstrip('/')}/api/codex/v1/data?slots={slots}"
    if layout is not None:
        url += f"&layout={layout}"
    async with aiohttp.ClientSession() as session, session.post(url, data=data) as resp:
        if resp.status != 200:
            raise SourceError(f"upload failed: HTTP {resp.status} {await resp.text()}")
        root = resp.headers.get("X-Codex-Dataset-Root")
        if root is None:
            raise SourceError("the dataset is too large for the development commitment")
        return Uploaded(
            cid=await resp.text(),
            merkle_root=bytes.fromhex(root.removeprefix("0x")),
            slots=int(resp.headers["X-Codex-Slots"]),
            slot_size=int(resp.headers["X-Codex-Slot-Size"]),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="upload a dataset to the data server")
    parser.add_argument("--url", required=True)
    parser.add_argument("--slots", type=int, default=1)
    parser.add_argument("--layout", choices=["dev", "codex"], default=None)
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    result = asyncio.run(upload(args.url, args.file.read_bytes(), args.slots, args.layout))
    print(json.dumps(result.as_json()))


if __name__ == "__main__":
    main()
