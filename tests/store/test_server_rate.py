"""The development data server's throttled streaming serves the same bytes as the fast path."""

from pathlib import Path

import aiohttp

from store.client import upload
from store.server import API, DataServer


async def test_a_throttled_range_request_returns_the_same_bytes(tmp_path: Path) -> None:
    fast, slow = DataServer(tmp_path / "fast"), DataServer(tmp_path / "slow", rate=200_000)
    data = bytes(range(256)) * 40
    urls = [await fast.start(), await slow.start()]
    try:
        bodies = []
        for url in urls:
            uploaded = await upload(url, data, 2)
            stream = f"{url}{API}/data/{uploaded.cid}/network/stream"
            async with (
                aiohttp.ClientSession() as session,
                session.get(stream, headers={"Range": "bytes=100-4099"}) as response,
            ):
                assert response.status == 206
                assert response.headers["Content-Range"].startswith("bytes 100-4099/")
                bodies.append(await response.read())
        assert bodies[0] == bodies[1] == data[100:4100]
    finally:
        await fast.stop()
        await slow.stop()
