"""A small Codex-compatible data server (aiohttp) for tests and the demo.

Endpoints (base = http://127.0.0.1:<port>):
- `POST /api/codex/v1/data?slots=N` with the raw bytes as body: stores them and answers the CID
  as text (CIDv1, raw, sha2-256, base58btc). Response headers `X-Codex-Dataset-Root` (0x-hex of
  Content.merkleRoot), `X-Codex-Slots` and `X-Codex-Slot-Size` give what a client puts in its
  request.
- `GET /api/codex/v1/data/{cid}/network/manifest`: JSON {cid, datasetSize, slots, slotSize,
  cellSize, datasetRoot, slotRoots} (store.manifest.Manifest).
- `GET /api/codex/v1/data/{cid}/network/stream`: the dataset's original bytes; HTTP Range works,
  so a host fetches only its slot and resumes after a failure.
A slot i is bytes [i*slotSize, (i+1)*slotSize) of the dataset, zero-padded past its end.

Run the demo server: `python -m store.server --data-dir DIR [--port 0] [--layout dev|codex]`
(prints its base URL). `?layout=codex` on an upload, or `--layout codex`, commits in Codex's
layout (proofs/poseidon2) instead of the development one.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from proofs import commitment
from proofs.poseidon2 import layout as codex_layout
from proofs.poseidon2.streaming import StreamingSlotHasher
from store.cid import b58encode
from store.manifest import Manifest

API = "/api/codex/v1"
_CHUNK = 1 << 20


def _commit(path: Path, slots: int, slot_size: int) -> tuple[str | None, list[str] | None]:
    if slot_size > commitment.MAX_SLOT_BYTES or slots > commitment.MAX_SLOTS:
        return None, None
    c = commitment.commit_dataset(path.read_bytes(), slots, slot_size)
    return "0x" + c.merkle_root.hex(), [str(r) for r in c.slot_roots]


def _slot_size(size: int, slots: int) -> int:
    per_slot = max(1, -(-size // slots))
    return -(-per_slot // commitment.CELL_BYTES) * commitment.CELL_BYTES


def _codex_slot_size(size: int, slots: int) -> int:
    """Codex's layout: whole 64 KiB blocks per slot (the tree pads to a power of two)."""
    per_slot = max(1, -(-size // slots))
    return -(-per_slot // codex_layout.BLOCK_BYTES) * codex_layout.BLOCK_BYTES


def _commit_codex(path: Path, slots: int, slot_size: int) -> tuple[str, list[str]]:
    """Slot roots by streaming each slot from the file (O(depth) memory), then the dataset root."""
    roots = []
    with path.open("rb") as f:
        for i in range(slots):
            hasher = StreamingSlotHasher(codex_layout.padded_blocks(slot_size))
            f.seek(i * slot_size)
            left = slot_size
            while left > 0:
                chunk = f.read(min(_CHUNK, left))
                if not chunk:  # past the end of the dataset: zero padding
                    chunk = bytes(min(_CHUNK, left))
                hasher.update(chunk)
                left -= len(chunk)
            roots.append(hasher.finish())
    root = codex_layout.dataset_root(roots)
    return "0x" + root.to_bytes(32, "little").hex(), [str(r) for r in roots]


class DataServer:
    """Datasets as files under `data_dir`, manifests beside them as JSON."""

    def __init__(
        self,
        data_dir: Path,
        middlewares: Iterable[Middleware] = (),
        rate: int | None = None,
        layout: str = "dev",
    ) -> None:
        self.data_dir = data_dir
        self.rate = rate
        self.layout = layout
        """"dev" (the development commitment) or "codex" (Codex's Poseidon2 layout); an upload's
        `?layout=` overrides it."""
        """Bytes per second to stream at (None: as fast as possible); tests slow it down to
        catch a download in flight."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.app = web.Application(middlewares=list(middlewares), client_max_size=0)
        self.app.add_routes(
            [
                web.post(f"{API}/data", self._upload),
                web.get(f"{API}/data/{{cid}}/network/manifest", self._manifest),
                web.get(f"{API}/data/{{cid}}/network/stream", self._stream),
            ]
        )
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sock_port = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{sock_port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _data_path(self, cid: str) -> Path:
        if not cid.startswith("z") or not cid[1:].isalnum():
            raise web.HTTPBadRequest(text="bad cid")
        return self.data_dir / f"{cid}.bin"

    async def _upload(self, request: web.Request) -> web.Response:
        try:
            slots = int(request.query.get("slots", "1"))
        except ValueError as e:
            raise web.HTTPBadRequest(text="slots must be an integer") from e
        if not 1 <= slots <= 65535:
            raise web.HTTPBadRequest(text="slots must be in 1..65535")
        layout = request.query.get("layout", self.layout)
        if layout not in ("dev", "codex"):
            raise web.HTTPBadRequest(text="layout must be dev or codex")
        fd, tmp_name = tempfile.mkstemp(dir=self.data_dir, suffix=".upload")
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.content.iter_chunked(_CHUNK):
                digest.update(chunk)
                f.write(chunk)
                size += len(chunk)
        cid = "z" + b58encode(bytes([0x01, 0x55, 0x12, 0x20]) + digest.digest())
        path = self._data_path(cid)
        await asyncio.to_thread(tmp.replace, path)
        root: str | None
        slot_roots: list[str] | None
        if layout == "codex":
            slot_size = _codex_slot_size(size, slots)
            root, slot_roots = await asyncio.to_thread(_commit_codex, path, slots, slot_size)
        else:
            slot_size = _slot_size(size, slots)
            root, slot_roots = await asyncio.to_thread(_commit, path, slots, slot_size)
        manifest = Manifest.model_validate(
            {
                "cid": cid,
                "datasetSize": size,
                "slots": slots,
                "slotSize": slot_size,
                "cellSize": codex_layout.CELL_BYTES if layout == "codex" else commitment.CELL_BYTES,
                "datasetRoot": root,
                "slotRoots": slot_roots,
                "layout": layout,
            }
        )
        path.with_suffix(".json").write_text(manifest.model_dump_json(by_alias=True))
        headers = {
            "X-Codex-Slots": str(slots),
            "X-Codex-Slot-Size": str(slot_size),
            "X-Codex-Layout": layout,
        }
        if root is not None:
            headers["X-Codex-Dataset-Root"] = root
        return web.Response(text=cid, headers=headers)

    async def _manifest(self, request: web.Request) -> web.Response:
        path = self._data_path(request.match_info["cid"]).with_suffix(".json")
        if not path.exists():
            raise web.HTTPNotFound(text="unknown cid")
        return web.json_response(json.loads(path.read_text()))

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        path = self._data_path(request.match_info["cid"])
        if not path.exists():
            raise web.HTTPNotFound(text="unknown cid")
        if self.rate is None:
            # FileResponse implements Range / 206 / 416 itself.
            return web.FileResponse(path, chunk_size=256 * 1024)
        return await self._throttled(request, path, self.rate)

    async def _throttled(self, request: web.Request, path: Path, rate: int) -> web.StreamResponse:
        """Serve ``bytes=first-last`` at ``rate`` bytes per second, as a slow network would."""
        size = (await asyncio.to_thread(path.stat)).st_size
        wanted = request.http_range
        start = wanted.start or 0
        stop = min(size, wanted.stop) if wanted.stop is not None else size
        if start >= stop:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
        ranged = "Range" in request.headers
        response = web.StreamResponse(status=206 if ranged else 200)
        response.content_length = stop - start
        if ranged:
            response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        await response.prepare(request)
        chunk = max(1, rate // 10)
        with path.open("rb") as source:
            source.seek(start)
            position = start
            while position < stop:
                data = source.read(min(chunk, stop - position))
                await response.write(data)
                position += len(data)
                await asyncio.sleep(len(data) / rate)
        await response.write_eof()
        return response


async def _serve(data_dir: Path, port: int, rate: int | None, layout: str = "dev") -> None:
    server = DataServer(data_dir, rate=rate, layout=layout)
    print(await server.start(port=port), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Codex-compatible development data server")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=int, default=None, help="stream at most this many B/s")
    parser.add_argument(
        "--layout", choices=["dev", "codex"], default="dev", help="default commitment layout"
    )
    args = parser.parse_args()
    asyncio.run(_serve(args.data_dir, args.port, args.rate, args.layout))


if __name__ == "__main__":
    main()
