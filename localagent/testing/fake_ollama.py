"""An Ollama-compatible HTTP server with scripted replies, tool calls included.

It speaks the parts of Ollama's API localagent uses: the OpenAI-compatible
`/v1/chat/completions` (streamed as server-sent events), `/api/tags`, `/api/version`,
`/api/show` and `/api/ps`. Every chat request is recorded so tests can assert what reached
the LLM. A model may be given a `ModelProfile` (`model_profiles.py`): the wire habits of a
real family (reasoning, no tools, a small window, tool calls written as text).

Run it by hand: `python -m localagent.testing.fake_ollama --port 11434`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from localagent.testing.in_thread import InThread
from localagent.testing.loopback import LoopbackServer
from localagent.testing.model_profiles import PROFILES, REASONING_TEXT, ModelProfile

__all__ = ["FakeOllama", "Reply", "ThreadedFakeOllama", "ToolCall"]


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """One scripted assistant turn: text, tool calls, or both.

    `fault` makes the turn fail after `fault_after` tokens: "stall" stops sending and holds
    the connection open, "drop" closes the connection mid-stream, "error" answers 500
    before streaming anything. Broken answers with a 200: "html" (a proxy's error page),
    "json" (one JSON completion though a stream was asked for), "empty" (no body), and
    "bad_tool" (a tool call whose arguments are not JSON).
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    fault: Literal["stall", "drop", "error", "html", "json", "empty", "bad_tool"] | None = None
    fault_after: int = 0


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


REASK_S = 10.0


def _conversation(request: dict[str, Any]) -> str:
    messages = [
        (m.get("role"), str(m.get("content") or "").strip(), m.get("tool_calls"))
        for m in request.get("messages", [])
    ]
    return json.dumps(messages, sort_keys=True, default=str)


class FakeOllama(LoopbackServer):
    """A real aiohttp server on loopback; use as `async with FakeOllama() as ollama`."""

    def __init__(
        self,
        *,
        models: tuple[str, ...] = ("llama3.2:3b",),
        replies: list[Reply] | None = None,
        ttft_s: float = 0.0,
        tokens_per_s: float = 0.0,
        default_reply: str | None = None,
        tools: bool = True,
        profiles: Mapping[str, ModelProfile] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.models = models
        # model -> its habits; a model without one is a plain tool-calling model
        self.profiles: dict[str, ModelProfile] = dict(profiles or {})
        self.replies: deque[Reply] = deque(replies or [])
        # (words, reply): a request whose last user message holds the words gets the reply,
        # before any scripted one; for tests whose requests may come in either order
        self.answers: list[tuple[str, Reply]] = []
        self.ttft_s = ttft_s
        self.default_reply = default_reply
        self.tokens_per_s = tokens_per_s
        self.tools = tools  # whether /api/show reports the "tools" capability
        self.requests: list[dict[str, Any]] = []
        # time.monotonic() as each chat request arrived: a point both a pipeline and its
        # caller can be timed against without instrumenting the pipeline.
        self.request_times: list[float] = []
        self.loads: list[str] = []  # models asked to load via /api/generate
        self.loaded: set[str] = set()  # what /api/ps lists
        self.reasoned: list[float] = []  # seconds of reasoning streamed, per answer
        self.truncated: list[int] = []  # prompts longer than the window (tokens), cut
        self.prompt_tokens: list[int] = []  # every chat request's prompt, counted
        self.hangups = 0  # streamed answers the client hung up on
        self.request_event = asyncio.Event()
        self.released = asyncio.Event()  # set at stop: ends stalled streams
        # (the request's messages, its reply, when): a tool call asked for again
        self._last: tuple[str, Reply, float] | None = None
        super().__init__(host, port)

    # -- lifecycle ---------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_get("/v1/models", self._openai_models)
        app.router.add_get("/api/version", self._version)
        app.router.add_post("/api/show", self._show)
        app.router.add_get("/api/ps", self._ps)
        app.router.add_post("/api/generate", self._generate)
        return app

    async def stop(self) -> None:
        self.released.set()
        await super().stop()

    # -- scripted behaviour ------------------------------------------------------------------

    def user_texts(self) -> list[str]:
        """The last user message of every chat request received, in order."""
        return [_last_user_text(r.get("messages", [])) for r in self.requests]

    def profile(self, model: str) -> ModelProfile:
        return self.profiles.get(model) or ModelProfile("llama", tools=self.tools)

    def _next_reply(self, request: dict[str, Any]) -> Reply:
        # A scripted tool call is given again to the same conversation asked again at once,
        # as a model at temperature 0 would: a speculative answer that wants a tool is
        # withdrawn, and asked again word for word once the turn is over.
        asked = _conversation(request)
        if self._last is not None:
            last_asked, last_reply, at = self._last
            if last_asked == asked and time.monotonic() - at < REASK_S:
                return last_reply
        heard = _last_user_text(request.get("messages", []))
        for words, answer in self.answers:
            if words in heard:
                return answer
        if self.replies:
            reply = self.replies.popleft()
            self._last = (asked, reply, time.monotonic()) if reply.tool_calls else None
            return reply
        if self.default_reply is not None:
            return Reply(text=self.default_reply)
        heard = _last_user_text(request.get("messages", [])).strip()
        if heard:
            return Reply(text=f"You said: {heard}. What else can I do for you?")
        return Reply(text="Hello! I am the local test assistant. How can I help you today?")

    # -- handlers ----------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.request_times.append(time.monotonic())
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"error": "invalid JSON body"}, status=400)
        model = body.get("model")
        if model not in self.models:
            return web.json_response(
                {"error": {"message": f'model "{model}" not found, try pulling it first'}},
                status=404,
            )
        self.requests.append(body)
        self.request_event.set()
        profile = self.profile(model)
        self.loaded.add(model)
        if body.get("tools") and not profile.tools:
            message = f"registry.ollama.ai/library/{model} does not support tools"
            return web.json_response(
                {"error": {"message": message, "type": "api_error", "param": None, "code": None}},
                status=400,
            )
        self.prompt_tokens.append(prompt := _prompt_tokens(body))
        if prompt > profile.window:
            self.truncated.append(prompt)  # Ollama drops the prompt's start, silently
        reply = _eager(body) if profile.calls_tools_always else None
        reply = reply or self._next_reply(body)
        thinks = profile.thinks and not _thinking_off(body, profile)
        if profile.tool_style != "native" and reply.tool_calls:
            reply = Reply(_written(reply.tool_calls, profile.tool_style))
        if reply.fault == "error":
            return web.json_response({"error": {"message": "scripted server error"}}, status=500)
        if reply.fault == "html":
            return web.Response(
                text="<html><body>502 Bad Gateway</body></html>", content_type="text/html"
            )
        if reply.fault == "empty":
            return web.Response(body=b"", content_type="text/event-stream")
        if not body.get("stream") or reply.fault == "json":
            return web.json_response(self._completion(model, reply))

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        created = int(time.time())

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        try:
            if self.ttft_s:
                await asyncio.sleep(self.ttft_s)
            await send({"role": "assistant", "content": ""})
            if thinks:
                await self._reason(send, profile, reply)
                if profile.reasoning == "answer_in_reasoning":
                    reply = Reply(tool_calls=reply.tool_calls)
            for sent, token in enumerate(_tokens(reply.text)):
                if reply.fault is not None and sent == reply.fault_after:
                    return await self._fail(request, response, reply.fault)
                await send({"content": token})
                if self.tokens_per_s:
                    await asyncio.sleep(1.0 / self.tokens_per_s)
            for index, call in enumerate(reply.tool_calls):
                arguments = json.dumps(call.arguments)
                if reply.fault == "bad_tool":
                    arguments = arguments[: len(arguments) // 2]  # cut: not JSON
                await send(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": f"call_{len(self.requests)}_{index}",
                                "type": "function",
                                "function": {
                                    "name": call.name,
                                    "arguments": arguments,
                                },
                            }
                        ]
                    }
                )
            await send({}, "tool_calls" if reply.tool_calls else "stop")
            if (body.get("stream_options") or {}).get("include_usage"):
                # As Ollama does: one last chunk with no choices and the usage.
                usage = _usage(body, sent_tokens=len(_tokens(reply.text)))
                final = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                await response.write(f"data: {json.dumps(final)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            # The client hung up mid-answer (an interrupted turn), as it may with Ollama.
            self.hangups += 1
        return response

    async def _reason(self, send: Any, profile: ModelProfile, reply: Reply) -> None:
        """Stream a reasoning trace the way the profile's family does, over `thinks_s`."""
        started = time.monotonic()
        tokens = _tokens(REASONING_TEXT)
        if profile.reasoning == "answer_in_reasoning" and reply.text:
            tokens += _tokens("\n\n" + reply.text)
        pause = profile.thinks_s / max(1, len(tokens))
        field_name = {"reasoning_content": "reasoning_content", "inline": "content"}.get(
            profile.reasoning, "reasoning"
        )
        if profile.reasoning == "inline":
            await send({"content": "<think>\n"})
        for token in tokens:
            await send({field_name: token} if field_name != "content" else {"content": token})
            await asyncio.sleep(pause)
        if profile.reasoning == "inline":
            await send({"content": "\n</think>\n\n"})
        self.reasoned.append(time.monotonic() - started)

    async def _fail(
        self, request: web.Request, response: web.StreamResponse, fault: str
    ) -> web.StreamResponse:
        if fault == "drop":
            assert request.transport is not None
            request.transport.abort()  # no terminating chunk: the client sees a broken stream
            return response
        await self.released.wait()  # "stall": hold the stream open, sending nothing
        return response

    async def _generate(self, request: web.Request) -> web.Response:
        """Only the empty-prompt form, which Ollama uses to load a model into memory."""
        body = await request.json()
        self.loads.append(str(body.get("model")))
        self.loaded.add(str(body.get("model")))
        if body.get("model") not in self.models:
            return web.json_response(
                {"error": f'model "{body.get("model")}" not found'}, status=404
            )
        return web.json_response({"model": body["model"], "done": True, "done_reason": "load"})

    def _completion(self, model: str, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for i, c in enumerate(reply.tool_calls)
            ]
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                }
            ],
        }

    async def _tags(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"models": [{"name": m, "model": m, "size": 0, "details": {}} for m in self.models]}
        )

    async def _openai_models(self, request: web.Request) -> web.Response:
        """Ollama's OpenAI-compatible model list (what vLLM and llama.cpp's server answer)."""
        listed = [{"id": m, "object": "model", "owned_by": "library"} for m in self.models]
        return web.json_response({"object": "list", "data": listed})

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.0.0-localagent-fake"})

    async def _show(self, request: web.Request) -> web.Response:
        body = await request.json()
        name = body.get("model") or body.get("name")
        if name not in self.models:
            return web.json_response({"error": f"model '{name}' not found"}, status=404)
        profile = self.profile(name)
        capabilities = ["completion"]
        capabilities += ["tools"] if profile.tools else []
        capabilities += ["thinking"] if profile.thinks else []
        parameters = f"num_ctx {profile.num_ctx}" if profile.num_ctx else ""
        return web.json_response(
            {
                "details": {"family": profile.family},
                "capabilities": capabilities,
                "model_info": {f"{profile.family}.context_length": profile.trained_context},
                "parameters": parameters,
            }
        )

    async def _ps(self, request: web.Request) -> web.Response:
        """The loaded models and the window each runs with (Ollama since 0.10)."""
        listed = [
            {"name": m, "model": m, "context_length": self.profile(m).window}
            for m in sorted(self.loaded)
        ]
        return web.json_response({"models": listed})


def _prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt's tokens, counted as a BPE tokenizer would, roughly: a token per word and
    per run of punctuation (`": {"` is one or two), the tool schemas included (Ollama
    renders them into the prompt), and the template's markers around each message."""
    text = " ".join(str(m.get("content") or "") for m in body.get("messages", []))
    text += json.dumps(body.get("tools") or [])
    return len(re.findall(r"\w+|[^\w\s]+", text)) + 4 * len(body.get("messages", []))


def _thinking_off(body: dict[str, Any], profile: ModelProfile) -> bool:
    """Whether the request carries one of the switches this profile obeys."""
    asked = set()
    if body.get("reasoning_effort") == "none":
        asked.add("reasoning_effort")
    if (body.get("chat_template_kwargs") or {}).get("enable_thinking") is False:
        asked.add("chat_template_kwargs")
    if any("/no_think" in str(m.get("content") or "") for m in body.get("messages", [])):
        asked.add("no_think")
    return bool(asked & set(profile.off_switches))


def _eager(body: dict[str, Any]) -> Reply | None:
    """A tool call for every request that ends with a user message (a flow's task message
    is one on Ollama, which has no developer role): the first offered function, its
    required arguments the first words of that message."""
    messages, tools = body.get("messages") or [], body.get("tools") or []
    if not tools or not messages or messages[-1].get("role") != "user":
        return None
    function = tools[0].get("function", {})
    required = (function.get("parameters") or {}).get("required") or []
    heard = " ".join(_last_user_text(messages).split()[:6])
    return Reply(tool_calls=(ToolCall(function.get("name", ""), dict.fromkeys(required, heard)),))


def _written(calls: tuple[ToolCall, ...], style: str) -> str:
    """Tool calls as a model writes them in its answer's text."""
    if style == "json":  # Llama 3.x's JSON format
        return "; ".join(json.dumps({"name": c.name, "parameters": c.arguments}) for c in calls)
    objects = [json.dumps({"name": c.name, "arguments": c.arguments}) for c in calls]
    if style == "fenced":
        return "```json\n" + "\n".join(objects) + "\n```"
    if style == "hermes":
        return "\n".join(f"<tool_call>\n{o}\n</tool_call>" for o in objects)
    return "[TOOL_CALLS][" + ", ".join(objects) + "]"  # mistral


def _usage(body: dict[str, Any], sent_tokens: int) -> dict[str, int]:
    """Token counts the way a server reports them; the prompt's counted as words, roughly."""
    prompt = sum(len(str(m.get("content") or "").split()) + 4 for m in body.get("messages", []))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": sent_tokens,
        "total_tokens": prompt + sent_tokens,
    }


def _tokens(text: str) -> list[str]:
    """Split like a tokenizer would, roughly: words with their leading space."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words) if w or i == 0]


async def _serve(args: argparse.Namespace) -> None:
    profiles = {m: PROFILES[args.profile] for m in args.model} if args.profile else None
    server = FakeOllama(
        models=tuple(args.model),
        profiles=profiles,
        ttft_s=args.ttft,
        tokens_per_s=args.tokens_per_s,
        host=args.host,
        port=args.port,
    )
    await server.start()
    print(f"fake Ollama listening on {server.url} (models: {', '.join(server.models)})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--model", action="append", default=None)
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds to first token")
    parser.add_argument("--tokens-per-s", type=float, default=0.0, help="0 = as fast as possible")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="a real family's habits")
    args = parser.parse_args()
    args.model = args.model or ["llama3.2:3b"]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()


class ThreadedFakeOllama(InThread[FakeOllama]):
    """A FakeOllama on its own event loop in a thread, so it serves whatever loop a test runs.

    Use as a context manager; `server` is the FakeOllama (script it with `server.replies`).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(lambda: FakeOllama(**kwargs))
