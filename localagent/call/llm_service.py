"""The LLM service of a call: pipecat's OpenAI-compatible one (Ollama, vLLM, llama.cpp's
server), bounded in time, asked not to think, kept within the model's context window, and
with its answer stream read through `FilteredStream` (reasoning and tool calls written as
text never reach the TTS)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from pipecat.frames.frames import Frame, LLMContextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.ollama.llm import OLLamaLLMService
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.turns.speculation_gate import SpeculationGate

from localagent.call.model_stream import AnswerHabits, FilteredStream
from localagent.call.speculation import LLMPassGate
from localagent.llm.capabilities import ModelFacts
from localagent.llm.context_budget import (
    TRIM_FRACTION,
    TRIM_TO_FRACTION,
    estimate_request,
    trim_history,
)
from localagent.llm.text_tools import Offered, offered_functions
from localagent.llm.thinking import thinking_request
from localagent.settings import Settings

__all__ = ["BoundedOllamaLLMService", "BoundedOpenAILLMService", "CallLLM", "create_llm"]


class _Bounded:
    """An OpenAI-compatible LLM service whose requests give up when the server goes silent.

    The OpenAI client pipecat builds waits up to ten minutes and retries twice, so a server
    that stalls mid-answer would hold the turn for half an hour. Here a silence of
    `timeout_s` (before the first token or between two chunks) fails the request at once;
    pipecat reports it as an error and the session apologises.
    """

    _speculation_gate: SpeculationGate

    def __init__(self, *, timeout_s: float, **kwargs: Any) -> None:
        self._timeout_s = timeout_s  # create_client runs inside super().__init__
        super().__init__(**kwargs)
        # A speculative answer is held after the TTS (SpeculativeHold), so it is spoken
        # while its turn is being decided; the LLM's own gate only keeps track.
        self._speculation_gate = LLMPassGate(name=f"{self}::SpeculationGate")

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        client = super().create_client(*args, **kwargs)  # type: ignore[misc]
        return client.with_options(timeout=self._timeout_s, max_retries=0)


class CallLLM(_Bounded, OpenAILLMService):
    """The call's LLM: what it sends and what it lets through.

    `facts` holds the model's capabilities as last probed (thinking, context window);
    `habits` counts what its answers did; `on_withheld` hears of text that looked like a
    tool call and matched none, so the call can answer it as a tool fault.
    """

    def __init__(
        self,
        *,
        facts: ModelFacts,
        thinking: bool,
        ollama: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.facts = facts
        self.habits = AnswerHabits()
        self.on_withheld: Callable[[str], Awaitable[None]] | None = None
        # Asked before each request: False while the tool-loop guard holds the model back.
        self.may_ask: Callable[[], bool] = lambda: True
        self._thinking = thinking
        self._ollama = ollama
        self._offered: dict[str, Offered] = {}
        self._told_thinking = False
        self._told_answer_in_reasoning = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, LLMContextFrame) and not self.may_ask():
            # A flow's transition asks the model again on its own: after a stopped tool
            # loop, not before the caller speaks.
            logger.info(f"{self}: not asked again until the caller speaks (a tool loop)")
            return
        await super().process_frame(frame, direction)

    def build_chat_completion_params(self, params_from_context: Any) -> dict[str, Any]:
        params = super().build_chat_completion_params(params_from_context)
        request = thinking_request(
            model=str(self.settings.model),
            ollama=self._ollama,
            capabilities=self.facts.capabilities,
            thinking=self._thinking,
        )
        params.update(request.fields)
        if request.extra_body:
            params["extra_body"] = {**request.extra_body, **(params.get("extra_body") or {})}
        if request.system_suffix:
            params["messages"] = _with_suffix(params.get("messages"), request.system_suffix)
        tools = params.get("tools")
        self._offered = offered_functions(tools if isinstance(tools, list) else [])
        return params

    async def get_chat_completions(self, context: LLMContext) -> Any:
        stream = await super().get_chat_completions(self._within_window(context))
        return FilteredStream(
            stream,
            llm=self,
            offered=self._offered,
            habits=self.habits,
            on_withheld=self.on_withheld,
            on_reasoned=self._reasoned,
        )

    def _reasoned(self, seconds: float, answer_from_reasoning: bool) -> None:
        """Said once a call: reasoning cost silence although thinking is off."""
        if answer_from_reasoning and not self._told_answer_in_reasoning:
            self._told_answer_in_reasoning = True
            logger.warning(
                f"{self.settings.model} gave its answer only as reasoning: its last sentences "
                "were spoken. Fix: a newer Ollama (it honours reasoning_effort) or another model"
            )
        if self._thinking or self._told_thinking:
            return
        self._told_thinking = True
        logger.warning(
            f"{self.settings.model} reasoned {seconds:.1f} s before answering although asked "
            "not to: the server ignores the request. Fix: a newer Ollama, or a model without "
            "thinking (llama3.2:3b, qwen2.5:3b)"
        )

    def _within_window(self, context: LLMContext) -> LLMContext:
        """The context, or a copy without its oldest exchanges when the request would
        pass `TRIM_FRACTION` of the window (the stored context keeps them all)."""
        capabilities = self.facts.capabilities
        window = capabilities.context_tokens if capabilities else None
        if not window:
            return context
        messages = list(context.get_messages())
        tools = self.get_llm_adapter().from_standard_tools(context.tools)
        schemas = tools if isinstance(tools, list) else []
        system = getattr(self.settings, "system_instruction", None)
        system_text = system if isinstance(system, str) else None
        tokens = estimate_request(system_text, messages, schemas)
        if tokens <= TRIM_FRACTION * window:
            return context
        fixed = estimate_request(system_text, [], schemas)
        kept = trim_history(messages, int(TRIM_TO_FRACTION * window), fixed)
        after = estimate_request(system_text, kept, schemas)
        logger.info(
            f"{self}: request of ~{tokens} tokens for a {window}-token window: "
            f"{len(messages) - len(kept)} old message(s) left out (~{after} tokens now)"
        )
        return LLMContext(messages=kept, tools=context.tools, tool_choice=context.tool_choice)


def _with_suffix(messages: Any, suffix: str) -> Any:
    """The messages with `suffix` on the first system message (Qwen3's soft switches)."""
    if not isinstance(messages, list):
        return messages
    out = list(messages)
    for i, message in enumerate(out):
        if isinstance(message, dict) and message.get("role") == "system":
            content = message.get("content")
            if isinstance(content, str) and suffix not in content:
                out[i] = {**message, "content": f"{content}\n{suffix}"}
            return out
    return [{"role": "system", "content": suffix}, *out]


class BoundedOllamaLLMService(CallLLM, OLLamaLLMService):
    """Ollama (its OpenAI-compatible endpoint)."""


class BoundedOpenAILLMService(CallLLM):
    """Any OpenAI-compatible server (vLLM, llama.cpp's server), bounded (--llm-url)."""


def create_llm(settings: Settings, facts: ModelFacts | None = None) -> CallLLM:
    facts = facts if facts is not None else ModelFacts()
    if settings.llm_url is not None:
        return BoundedOpenAILLMService(
            facts=facts,
            thinking=settings.llm_thinking,
            ollama=False,
            timeout_s=settings.llm_timeout,
            base_url=settings.llm_url,
            api_key="localagent",  # servers without keys ignore it; one with --api-key: ours
            settings=OpenAILLMService.Settings(model=settings.llm_model),
        )
    return BoundedOllamaLLMService(
        facts=facts,
        thinking=settings.llm_thinking,
        ollama=True,
        timeout_s=settings.llm_timeout,
        base_url=settings.ollama_host.rstrip("/") + "/v1",
        settings=OLLamaLLMService.Settings(model=settings.llm_model),
    )
