"""The pre-join network check endpoints: small, bounded, and rate-limited."""

from __future__ import annotations

import aiohttp

from tests.integration.conftest import Harness


async def test_ping_download_and_upload(harness: Harness) -> None:
    async with aiohttp.ClientSession() as http:
        ping = await http.get(f"{harness.url}/api/network-check/ping")
        assert ping.status == 200 and ping.headers["Cache-Control"] == "no-store"
        download = await http.get(f"{harness.url}/api/network-check/download", params={"bytes": "100000"})
        assert len(await download.read()) == 100_000
        upload = await http.post(f"{harness.url}/api/network-check/upload", data=b"x" * 200_000)
        assert (await upload.json()) == {"bytes": 200_000}


async def test_oversized_or_malformed_requests_are_refused(harness: Harness) -> None:
    async with aiohttp.ClientSession() as http:
        for value in ("0", "9999999", "lots"):
            response = await http.get(f"{harness.url}/api/network-check/download", params={"bytes": value})
            assert response.status == 400
            assert (await response.json())["error"]["code"] == "bad_payload"
        too_big = await http.post(f"{harness.url}/api/network-check/upload", data=b"x" * 600_000)
        assert too_big.status == 413


async def test_a_flood_of_checks_is_rate_limited(harness: Harness) -> None:
    async with aiohttp.ClientSession() as http:
        statuses = [(await http.get(f"{harness.url}/api/network-check/ping")).status for _ in range(130)]
    assert statuses[:100] == [200] * 100 and statuses[-1] == 429
