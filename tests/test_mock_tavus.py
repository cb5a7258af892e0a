"""The mock Tavus API behaves like Tavus where localagent depends on it."""

from __future__ import annotations

import time

import aiohttp

from localagent.testing.mock_tavus import MockTavus


async def test_conversation_lifecycle_and_auth() -> None:
    async with MockTavus(api_key="k") as tavus, aiohttp.ClientSession() as http:
        body = {"replica_id": "r-test-replica", "persona_id": "pipecat0"}
        async with http.post(f"{tavus.url}/conversations", json=body) as r:
            assert r.status == 401  # no key
        async with http.post(
            f"{tavus.url}/conversations", json=body, headers={"x-api-key": "wrong"}
        ) as r:
            assert r.status == 401
            assert (await r.json())["message"] == "Invalid access token"
        async with http.post(
            f"{tavus.url}/conversations", json=body, headers={"x-api-key": "k"}
        ) as r:
            created = await r.json()
        assert created["conversation_url"].startswith("http://127.0.0.1:")  # loopback only
        assert tavus.open_conversations == [created["conversation_id"]]
        end = f"{tavus.url}/conversations/{created['conversation_id']}/end"
        async with http.post(end, headers={"x-api-key": "k"}) as r:
            assert r.status == 200
        assert tavus.open_conversations == []
        async with http.post(
            f"{tavus.url}/conversations/nope/end", headers={"x-api-key": "k"}
        ) as r:
            assert r.status == 404
        async with http.get(f"{tavus.url}/personas/p1", headers={"x-api-key": "k"}) as r:
            assert (await r.json())["persona_name"] == "Mock persona p1"
        assert [q.api_key for q in tavus.requests][:3] == [None, "wrong", "k"]


async def test_injected_faults_and_slow_answers() -> None:
    async with MockTavus(api_key="k") as tavus, aiohttp.ClientSession() as http:
        headers = {"x-api-key": "k"}
        body = {"replica_id": "r-test-replica"}
        for status in (402, 429, 500, 503):
            tavus.fail_next(status, path_contains="/conversations")
            async with http.post(f"{tavus.url}/conversations", json=body, headers=headers) as r:
                assert r.status == status
        tavus.fail_next(200, delay_s=0.5)  # slow but fine
        started = time.monotonic()
        async with http.post(f"{tavus.url}/conversations", json=body, headers=headers) as r:
            assert r.status == 200
        assert time.monotonic() - started >= 0.5
        assert len(tavus.open_conversations) == 1
        cid = tavus.open_conversations[0]
        async with http.post(f"{tavus.url}/conversations/{cid}/end", headers=headers):
            pass
        async with http.post(
            f"{tavus.url}/conversations", json={"replica_id": "r-other"}, headers=headers
        ) as r:
            assert r.status == 400  # unknown replica
        assert tavus.open_conversations == []
