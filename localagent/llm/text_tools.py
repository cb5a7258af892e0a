"""Tool calls a model writes as text instead of calling the tool.

Small models, and servers whose chat template does not parse tool calls out of the
answer, stream the call as text in `content`: bare JSON (`{"name": ..., "parameters":
...}`, Llama 3.x's JSON tool format), fenced in Markdown (agno#238), Hermes-style in
`<tool_call>` tags (Qwen2.5's template; omlx#2565), after Mistral's `[TOOL_CALLS]` or
Llama 3.1's `<|python_tag|>`. Pipecat reads all of it as words to speak (pipecat#1977).

`ToolTextScanner` lets speech through as it streams and holds back whatever opens like a
call until it closes; `parse_calls` then makes the held text calls to the functions the
request offered, or says it is none, so it is withheld rather than read aloud.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Offered", "TextToolCall", "ToolTextScanner", "offered_functions", "parse_calls"]


@dataclass(frozen=True)
class TextToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Offered:
    """A function the request offered: its name and the arguments it must have."""

    name: str
    required: frozenset[str] = frozenset()


# opener -> what closes it ("" = the end of the answer; "}" and "]" = balanced JSON)
_OPENERS = {
    "<tool_call>": "</tool_call>",
    "```": "```",
    "[TOOL_CALLS]": "",
    "<|python_tag|>": "",
    "{": "}",
}
_WRAPPERS = ("<tool_call>", "</tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "<|eom_id|>")


class ToolTextScanner:
    """Feed the answer's speech in order; `feed` returns what may be spoken now."""

    def __init__(self) -> None:
        self._held = ""  # speech that may still be the start of an opener
        self._capture: str | None = None  # text held as a call, while capturing
        self._closer = ""
        self.captured: list[str] = []  # each finished (or cut) stretch held as a call

    @property
    def holding(self) -> bool:
        return self._capture is not None

    def feed(self, text: str) -> str:
        speech: list[str] = []
        if self._capture is not None:
            self._capture += text
        else:
            self._held += text
        while True:
            if self._capture is not None:
                end = _end_of(self._capture, self._closer)
                if end is None:
                    break
                self.captured.append(self._capture[:end])
                self._held, self._capture = self._capture[end:], None
            found = _opener(self._held)
            if found is None:
                keep = _partial_tail(self._held)
                speech.append(self._held[: len(self._held) - keep])
                self._held = self._held[len(self._held) - keep :]
                break
            at, opener = found
            speech.append(self._held[:at])
            self._capture, self._closer = self._held[at:], _OPENERS.get(opener, "]")
            self._held = ""
        return "".join(speech)

    def close(self) -> str:
        """The end of the answer: an unclosed call is held as one; a held tail is speech."""
        if self._capture is not None:
            self.captured.append(self._capture)
            self._capture = None
        held, self._held = self._held, ""
        return held


def _opener(text: str) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for opener in _OPENERS:
        at = text.find(opener)
        if at >= 0 and (best is None or at < best[0]):
            best = (at, opener)
    # a list of calls: "[" then "{" (a "[" alone is held until the next character shows)
    bracket = text.find("[")
    while bracket >= 0:
        rest = text[bracket + 1 :].lstrip()
        if rest.startswith("{") and (best is None or bracket < best[0]):
            best = (bracket, "[")
            break
        bracket = text.find("[", bracket + 1)
    return best


def _partial_tail(text: str) -> int:
    """Trailing characters that could still open a call ("<tool", "``", "[ ")."""
    stripped = text.rstrip()
    if stripped.endswith("["):
        return len(text) - len(stripped) + 1
    for size in range(min(len(text), 13), 0, -1):
        tail = text[-size:]
        if any(o.startswith(tail) and o != tail for o in _OPENERS):
            return size
    return 0


def _end_of(capture: str, closer: str) -> int | None:
    """Where a capture ends (the index after it), or None while it is still open."""
    if closer == "":
        return None
    if closer in ("}", "]"):
        return _balanced_end(capture)
    at = capture.find(closer, 3 if closer == "```" else 1)
    return None if at < 0 else at + len(closer)


def _balanced_end(text: str) -> int | None:
    depth, in_string, escaped = 0, False, False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def offered_functions(tools: Iterable[Mapping[str, Any]]) -> dict[str, Offered]:
    """The functions of a request's `tools` (OpenAI's schema), by name."""
    offered = {}
    for tool in tools:
        function = tool.get("function", tool)
        if not isinstance(function, Mapping) or not function.get("name"):
            continue
        parameters = function.get("parameters") or {}
        required = (parameters.get("required") or ()) if isinstance(parameters, Mapping) else ()
        name = str(function["name"])
        offered[name] = Offered(name, frozenset(str(r) for r in required))
    return offered


def parse_calls(text: str, offered: Mapping[str, Offered]) -> list[TextToolCall] | None:
    """The calls written in `text`, if every one names an offered function with the
    arguments it requires; None if any does not (or there is none)."""
    body = text.strip()
    for wrapper in _WRAPPERS:
        body = body.replace(wrapper, " ")
    if body.lstrip().startswith("```"):
        body = body.strip().removeprefix("```").removesuffix("```")
        body = body.removeprefix("json").removeprefix("JSON")
    values = _json_values(body)
    if values is None:
        return None
    calls = []
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            call = _call(item, offered)
            if call is None:
                return None
            calls.append(call)
    return calls or None


def _json_values(body: str) -> list[Any] | None:
    decoder, at = json.JSONDecoder(), 0
    values: list[Any] = []
    while True:
        while at < len(body) and body[at] in " \t\r\n,;":
            at += 1
        if at >= len(body):
            return values
        try:
            value, at = decoder.raw_decode(body, at)
        except json.JSONDecodeError:
            return None
        values.append(value)


def _call(item: Any, offered: Mapping[str, Offered]) -> TextToolCall | None:
    if not isinstance(item, dict):
        return None
    function = item.get("function")
    if isinstance(function, dict):  # OpenAI's own shape, written out
        item = function
    name = item.get("name")
    arguments: Any = next((item[k] for k in ("arguments", "parameters", "args") if k in item), {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return None
    if not isinstance(name, str) or name not in offered or not isinstance(arguments, dict):
        return None
    if not offered[name].required <= arguments.keys():
        return None
    return TextToolCall(name, arguments)
