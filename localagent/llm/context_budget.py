"""How much of the model's context window a request takes, and what to leave out of it.

A server with a small window (Ollama gives 4096 tokens unless told otherwise) drops the
start of a longer prompt silently: the role and task messages go first, and the model
forgets who it is. So the flow's largest request is estimated before any call (`doctor`,
start-up, the cockpit warn past `WARN_FRACTION` of the window), and during a call the
oldest exchanges are left out of a request that would pass `TRIM_FRACTION`, down to
`TRIM_TO_FRACTION`; system and developer messages (the role and the tasks) always stay.

Tokens are estimated from characters (`CHARS_PER_TOKEN`, on the high side for English
and JSON with Llama, Qwen and Gemma tokenizers), so the estimate errs towards warning.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHARS_PER_TOKEN",
    "HISTORY_TOKENS",
    "TRIM_FRACTION",
    "TRIM_TO_FRACTION",
    "WARN_FRACTION",
    "FlowRequest",
    "budget_warning",
    "estimate_request",
    "estimate_text",
    "flow_largest_request",
    "trim_history",
]

CHARS_PER_TOKEN = 3.5
MESSAGE_OVERHEAD = 4  # the chat template's role markers around each message
REPLY_TOKENS = 200  # room the answer needs in the same window
HISTORY_TOKENS = 600  # a conversation of about ten short exchanges, in the flow estimate
WARN_FRACTION = 0.7
TRIM_FRACTION = 0.85
TRIM_TO_FRACTION = 0.6
_KEPT_ROLES = ("system", "developer")


def estimate_text(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _message_tokens(message: Any) -> int:
    if not isinstance(message, Mapping):
        return MESSAGE_OVERHEAD + estimate_text(str(message))
    content = message.get("content")
    if isinstance(content, list):
        text = " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    else:
        text = str(content or "")
    calls = message.get("tool_calls")
    extra = estimate_text(json.dumps(calls, default=str)) if calls else 0
    return MESSAGE_OVERHEAD + estimate_text(text) + extra


def estimate_request(
    system: str | None, messages: Iterable[Any], tools: Sequence[Mapping[str, Any]] = ()
) -> int:
    """Tokens of a chat request: system instruction, messages, tool schemas, the answer."""
    total = REPLY_TOKENS + sum(_message_tokens(m) for m in messages)
    if system:
        total += MESSAGE_OVERHEAD + estimate_text(system)
    if tools:
        total += estimate_text(json.dumps(list(tools), default=str))
    return total


@dataclass(frozen=True)
class FlowRequest:
    node: str
    tokens: int


def flow_largest_request(flow: Any) -> FlowRequest:
    """The flow's largest request, estimated: its longest role message, every node's task
    messages (they stay in the context as the call moves on), the node's tools and the
    global ones, and `HISTORY_TOKENS` of conversation. `flow` is a `pipecat.flows.Flow`."""
    nodes = {name: flow.node(name) for name in flow.config.nodes}
    role = max((str(n.get("role_message") or "") for n in nodes.values()), key=len, default="")
    tasks = [m for n in nodes.values() for m in n.get("task_messages") or []]
    global_tools = [_schema(f) for f in flow.global_functions]
    best = FlowRequest("", 0)
    for name, node in nodes.items():
        tools = [_schema(f) for f in node.get("functions") or []] + global_tools
        tokens = estimate_request(role, tasks, tools) + HISTORY_TOKENS
        if tokens > best.tokens:
            best = FlowRequest(name, tokens)
    return best


def _schema(function: Any) -> dict[str, Any]:
    """A flow function as the OpenAI tool schema the request carries."""
    to_dict = getattr(function, "to_function_schema", None)
    schema = to_dict() if callable(to_dict) else function
    return {
        "type": "function",
        "function": {
            "name": getattr(schema, "name", str(schema)),
            "description": getattr(schema, "description", ""),
            "parameters": {
                "type": "object",
                "properties": getattr(schema, "properties", {}),
                "required": getattr(schema, "required", []),
            },
        },
    }


def budget_warning(tokens: int, window: int | None, model: str, ollama: bool) -> str:
    """A warning when `tokens` pass `WARN_FRACTION` of `window`, with the fix; else ""."""
    if not window or tokens <= WARN_FRACTION * window:
        return ""
    share = round(100 * tokens / window)
    fix = (
        "give it a larger window: OLLAMA_CONTEXT_LENGTH=8192 ollama serve (or a Modelfile "
        "with PARAMETER num_ctx 8192), or a model with a larger one"
        if ollama
        else "start the server with a larger context (vLLM --max-model-len, llama.cpp -c)"
    )
    return (
        f"the flow's largest request is about {tokens} tokens, {share}% of {model}'s "
        f"{window}-token context window; old turns will be left out of requests. Fix: {fix}"
    )


def trim_history(messages: Sequence[Any], keep_tokens: int, fixed_tokens: int) -> list[Any]:
    """`messages` without their oldest exchanges, until the request (`fixed_tokens` for the
    system instruction, tools and answer, plus the messages) fits `keep_tokens`.

    An exchange runs from a user message to the next one. Its user, assistant and tool
    messages go first, whole, so a tool call is never parted from its result; the system
    and developer messages (the flow's tasks) stay. Only if that is not enough do the task
    messages of old exchanges go too (a node entered again and again leaves one each time),
    oldest first, but never the latest ones (the node the call is in). The last two
    exchanges always stay whole.
    """
    kept = list(messages)
    # the stretch before the first user message (the greeting) goes first
    starts = sorted({0, *(i for i, m in enumerate(kept) if _role(m) == "user")})
    old = list(zip(starts, starts[1:], strict=False))[: max(0, len(starts) - 2)]
    total = fixed_tokens + sum(_message_tokens(m) for m in kept)
    current = _latest_tasks(kept)
    dropped: set[int] = set()
    for tasks_too in (False, True):
        for start, end in old:
            if total <= keep_tokens:
                break
            for i in range(start, end):
                task = _role(kept[i]) in _KEPT_ROLES
                if i not in dropped and (not task or (tasks_too and i not in current)):
                    dropped.add(i)
                    total -= _message_tokens(kept[i])
    return [m for i, m in enumerate(kept) if i not in dropped]


def _latest_tasks(messages: Sequence[Any]) -> set[int]:
    """The indexes of the latest run of system and developer messages: the current node's."""
    found: set[int] = set()
    for i in range(len(messages) - 1, -1, -1):
        if _role(messages[i]) in _KEPT_ROLES:
            found.add(i)
        elif found:
            break
    return found


def _role(message: Any) -> str:
    return str(message.get("role", "")) if isinstance(message, Mapping) else ""
