"""Reasoning written inline in the answer (`<think>...</think>`), told apart from speech.

Thinking models served without a reasoning parser (older Ollama releases, llama.cpp's
server without `--reasoning-format`, vLLM without `--reasoning-parser`) stream their
reasoning inside `content`, wrapped in tags. The splitter reads the stream chunk by chunk
and says which text is speech and which is reasoning, holding back only a tail that could
still be the start of a tag, so speech is never delayed by more than a few characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Piece", "ThinkSplitter", "last_resort_answer"]

# The tag pairs models are known to write (DeepSeek-R1 and Qwen3: think; others: thinking).
_TAGS = {"<think>": "</think>", "<thinking>": "</thinking>", "<reasoning>": "</reasoning>"}


@dataclass(frozen=True)
class Piece:
    kind: Literal["speech", "reasoning"]
    text: str


class ThinkSplitter:
    """Feed content chunks in order; each call returns the pieces it can tell apart now."""

    def __init__(self) -> None:
        self._held = ""  # text that may still be the start of a tag
        self._close: str | None = None  # the closing tag awaited, while inside reasoning
        self._after_reasoning = False  # the speech right after a block: leading space goes

    @property
    def reasoning(self) -> bool:
        """Whether the stream is inside a reasoning block now."""
        return self._close is not None

    def feed(self, text: str) -> list[Piece]:
        self._held += text
        pieces: list[Piece] = []
        while self._held:
            tags = [self._close] if self._close is not None else list(_TAGS)
            found = _first(self._held, tags)
            if found is not None:
                at, tag = found
                self._emit(pieces, self._held[:at])
                self._held = self._held[at + len(tag) :]
                if self._close is None:
                    self._close = _TAGS[tag]
                else:
                    self._close = None
                    self._after_reasoning = True
                continue
            keep = _partial_tail(self._held, tags)
            self._emit(pieces, self._held[: len(self._held) - keep])
            self._held = self._held[len(self._held) - keep :]
            break
        return pieces

    def close(self) -> list[Piece]:
        """The end of the stream: what was held back is what it seemed to be."""
        pieces: list[Piece] = []
        self._emit(pieces, self._held)
        self._held = ""
        return pieces

    def _emit(self, pieces: list[Piece], text: str) -> None:
        if not text:
            return
        if self._close is not None:
            pieces.append(Piece("reasoning", text))
            return
        if self._after_reasoning:
            text = text.lstrip()
            if not text:
                return
            self._after_reasoning = False
        pieces.append(Piece("speech", text))


def _first(text: str, tags: list[str]) -> tuple[int, str] | None:
    lowered = text.lower()
    hits = [(lowered.find(tag), tag) for tag in tags if tag in lowered]
    return min(hits) if hits else None


def _partial_tail(text: str, tags: list[str]) -> int:
    """How many trailing characters of `text` could begin one of `tags`."""
    lowered = text.lower()
    for size in range(min(len(lowered), max(len(t) for t in tags) - 1), 0, -1):
        if any(tag.startswith(lowered[-size:]) for tag in tags):
            return size
    return 0


# The last resort speaks at most this many sentences from the end of the reasoning.
_LAST_RESORT_SENTENCES = 3


def last_resort_answer(reasoning: str) -> str:
    """An answer from a reasoning trace that came with no answer at all.

    Some models on some servers put the whole answer in the reasoning field (gemma4 on
    Ollama's OpenAI endpoint, ollama#15288); others run out of budget before answering.
    The trace's last paragraph is where an answer is, if there is one: its last few
    sentences are spoken rather than nothing.
    """
    paragraphs = [p.strip() for p in reasoning.replace("\r", "").split("\n\n") if p.strip()]
    if not paragraphs:
        return ""
    last = " ".join(paragraphs[-1].split())
    sentences = _sentences(last)
    return " ".join(sentences[-_LAST_RESORT_SENTENCES:])


def _sentences(text: str) -> list[str]:
    out, start = [], 0
    for i, ch in enumerate(text):
        if ch in ".!?" and (i + 1 == len(text) or text[i + 1] == " "):
            out.append(text[start : i + 1].strip())
            start = i + 1
    if text[start:].strip():
        out.append(text[start:].strip())
    return out
