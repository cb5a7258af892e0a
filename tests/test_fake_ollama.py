"""The fake Ollama speaks the API pipecat's OpenAI-compatible client expects."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest
from openai import AsyncOpenAI

from localagent.ollama_status import probe_ollama
from localagent.testing.fake_ollama import FakeOllama, Reply, ToolCall


async def test_streams_text_and_tool_calls_to_the_openai_client() -> None:
    async with FakeOllama(
        replies=[
            Reply(text="Hello there friend."),
            Reply(tool_calls=(ToolCall("record_issue", {"summary": "wifi"}),)),
        ]
    ) as server:
        client = AsyncOpenAI(base_url=server.url + "/v1", api_key="ollama")
        stream = await client.chat.completions.create(
            model="llama3.2:3b",
            stream=True,
            messages=[{"role": "user", "content": "hi"}],
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
        assert text == "Hello there friend."
        stream = await client.chat.completions.create(
            model="llama3.2:3b",
            stream=True,
            messages=[{"role": "user", "content": "my wifi is down"}],
        )
        calls = [tc async for c in stream for tc in (c.choices[0].delta.tool_calls or [])]
        assert calls[0].function.name == "record_issue"
        assert json.loads(calls[0].function.arguments) == {"summary": "wifi"}
        assert server.user_texts() == ["hi", "my wifi is down"]
        await client.close()


async def test_ollama_endpoints_and_probe() -> None:
    async with FakeOllama(models=("llama3.2:3b",)) as server:
        assert (await probe_ollama(server.url, "llama3.2:3b")).ok
        missing = await probe_ollama(server.url, "mistral")
        assert not missing.ok and "ollama pull mistral" in missing.fix
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{server.url}/api/show", json={"model": "llama3.2:3b"}) as r:
                assert "tools" in (await r.json())["capabilities"]
            async with http.post(
                f"{server.url}/v1/chat/completions", json={"model": "mistral", "messages": []}
            ) as r:
                assert r.status == 404
    down = await probe_ollama(server.url, "llama3.2:3b")  # stopped now
    assert not down.ok and "not reachable" in down.problem


async def test_a_client_hanging_up_mid_answer_is_counted_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An interrupted turn closes the stream early; the fake must take that as Ollama does."""
    async with FakeOllama(replies=[Reply(text="word " * 200)], tokens_per_s=50) as server:
        async with aiohttp.ClientSession() as http:
            request = {"model": "llama3.2:3b", "stream": True, "messages": []}
            async with http.post(f"{server.url}/v1/chat/completions", json=request) as r:
                assert (await r.content.readline()).startswith(b"data: ")
                r.close()
        for _ in range(100):
            if server.hangups:
                break
            await asyncio.sleep(0.05)
        assert server.hangups == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
