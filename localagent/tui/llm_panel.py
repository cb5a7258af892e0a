"""Every LLM inference of the calls, as a table, and the selected one in full.

A row per inference: tokens in and out, time to first token, the tool calls it made and
the reply. The detail below shows the whole context sent, the reply, and each tool call's
arguments and result (each `ToolResult`, by its tool call id), nothing cut. A
run of inferences with no caller turn between them (a tool loop) is flagged in red, and a
reply that was interrupted while being spoken is marked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from localagent.events import Event, LLMExchange, NodeEntered, SessionStarted, ToolResult, Turn
from localagent.tui.panels import clock

__all__ = ["LLMPanel", "describe_exchange"]

LOOP_WARNING_AT = 4  # inferences in a row without the caller speaking
REFUSED_WARNING_AT = 2  # tool calls refused in a row


@dataclass
class _Row:
    exchange: LLMExchange
    node: str | None
    results: dict[int, tuple[Any, bool]] = field(default_factory=dict)  # call index -> result
    spoken_in_part: bool = False


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe_exchange(row: _Row) -> Text:
    """One inference in full: what was sent, what came back, what the tools answered."""
    e = row.exchange
    text = Text()
    text.append(f"LLM inference {e.index}", style="bold")
    text.append(f"  node {row.node or '-'}  ")
    ttfb = f"{e.ttfb:.2f} s" if e.ttfb is not None else "-"
    text.append(f"first token {ttfb}, done in {e.duration:.2f} s")
    tokens = f"{e.tokens_in if e.tokens_in is not None else '?'} in, "
    tokens += f"{e.tokens_out if e.tokens_out is not None else '?'} out"
    text.append(f"  tokens {tokens}")
    if e.speculative:
        text.append("  speculative (asked before the turn was judged over)", style="yellow")
    if not e.complete:
        text.append("  CUT SHORT (interrupted or withdrawn)", style="bold yellow")
    text.append("\noffered: ", style="bold")
    text.append(", ".join(e.tools) or "no functions")
    text.append(f"\n── sent: {len(e.messages)} messages ──\n", style="dim")
    for m in e.messages:
        role = str(m.get("role", "?"))
        text.append(f"{role}: ", style="bold cyan" if role == "user" else "bold")
        content = m.get("content")
        text.append(_json(content) if content is not None else "")
        if m.get("tool_calls"):
            text.append(f" tool_calls={_json(m['tool_calls'])}", style="magenta")
        if m.get("tool_call_id"):
            text.append(f" (for {m['tool_call_id']})", style="dim")
        text.append("\n")
    if e.reasoning:
        spent = f", {e.reasoning_s:.1f} s" if e.reasoning_s is not None else ""
        text.append(f"── reasoning (not spoken{spent}) ──\n", style="dim")
        text.append(e.reasoning.strip() + "\n", style="italic dim")
    text.append("── reply ──\n", style="dim")
    text.append(e.reply or "(no text)", style="green" if e.reply else "dim")
    if row.spoken_in_part:
        text.append("  [interrupted while spoken: the caller heard only part]", style="yellow")
    for i, call in enumerate(e.tool_calls):
        text.append(f"\ntool call {call.get('name')}(", style="bold magenta")
        text.append(_json(call.get("arguments", {})))
        text.append(")", style="bold magenta")
        if i in row.results:
            result, accepted = row.results[i]
            text.append(" → ", style="bold")
            text.append(_json(result), style="" if accepted else "red")
            if not accepted:
                text.append("  [refused]", style="bold red")
        else:
            text.append(" → (no result yet)", style="dim")
    return text


class LLMPanel(Vertical):
    ALLOW_MAXIMIZE = True

    COLUMNS = ("#", "time", "node", "in", "out", "TTFB", "tools", "reply")

    def compose(self) -> ComposeResult:
        self.border_title = "LLM turns"
        yield Static("no LLM turns yet", id="llm-summary")
        yield DataTable(id="llm-table", zebra_stripes=True, cursor_type="row")
        with VerticalScroll(id="llm-detail"):
            yield Static("", id="llm-detail-text")

    def on_mount(self) -> None:
        self.rows: list[_Row] = []
        self.node: str | None = None
        self.since_caller = 0  # inferences since the caller last spoke
        self.refused_in_a_row = 0  # since the caller last spoke
        # The call's worst run of refusals, kept once the caller speaks again: a loop that
        # the guard stopped must not vanish from view with the next turn.
        self.worst_loop: tuple[int, float] | None = None  # (refusals in a row, when)
        self.follow = True  # the detail follows the newest row until one is chosen
        self.query_one(DataTable).add_columns(*self.COLUMNS)

    def handle(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self.node, self.since_caller, self.refused_in_a_row = None, 0, 0
            self.worst_loop = None
        elif isinstance(event, NodeEntered):
            self.node = event.node
        elif isinstance(event, Turn):
            if event.role == "user":
                self.since_caller = self.refused_in_a_row = 0
            elif event.interrupted and (said := self._last_with_reply()) is not None:
                said.spoken_in_part = True
                self._refresh_row(self.rows.index(said))
        elif isinstance(event, LLMExchange):
            self._add(event)
        elif isinstance(event, ToolResult):
            self._join(event)

    def _last_with_reply(self) -> _Row | None:
        return next((r for r in reversed(self.rows) if r.exchange.reply), None)

    def _cells(self, row: _Row) -> list[Any]:
        e = row.exchange
        refused = any(not ok for _, ok in row.results.values())
        tools = Text(
            ", ".join(str(c.get("name")) for c in e.tool_calls) or "-",
            style="bold red" if refused else "magenta",
        )
        reply = Text(_one_line(e.reply, 60) or ("(tool call)" if e.tool_calls else "(empty)"))
        if not e.complete:
            reply = Text("cut short · ", style="yellow") + reply
        if row.spoken_in_part:
            reply.append(" [interrupted]", style="yellow")
        return [
            str(e.index) + ("s" if e.speculative else ""),
            clock(e.at),
            row.node or "-",
            "?" if e.tokens_in is None else str(e.tokens_in),
            "?" if e.tokens_out is None else str(e.tokens_out),
            "-" if e.ttfb is None else f"{e.ttfb:.2f}",
            tools,
            reply,
        ]

    def _add(self, exchange: LLMExchange) -> None:
        row = _Row(exchange, self.node)
        self.rows.append(row)
        self.since_caller += 1
        table = self.query_one(DataTable)
        table.add_row(*self._cells(row), key=str(len(self.rows) - 1))
        if self.follow:
            table.move_cursor(row=len(self.rows) - 1, animate=False)
            self._show(len(self.rows) - 1)
        self._summary()

    def _join(self, answered: ToolResult) -> None:
        for index in range(len(self.rows) - 1, -1, -1):
            row = self.rows[index]
            for i, call in enumerate(row.exchange.tool_calls):
                if call.get("id") != answered.tool_call_id:
                    continue
                row.results[i] = (answered.result, not answered.refused)
                self.refused_in_a_row = self.refused_in_a_row + 1 if answered.refused else 0
                if self.refused_in_a_row >= REFUSED_WARNING_AT and (
                    self.worst_loop is None or self.refused_in_a_row >= self.worst_loop[0]
                ):
                    self.worst_loop = (self.refused_in_a_row, answered.at)
                self._refresh_row(index)
                self._summary()
                return

    def _refresh_row(self, index: int) -> None:
        table = self.query_one(DataTable)
        for column, value in zip(table.columns, self._cells(self.rows[index]), strict=True):
            table.update_cell(str(index), column, value)
        if table.cursor_row == index:
            self._show(index)

    def _summary(self) -> None:
        tokens_in = sum(r.exchange.tokens_in or 0 for r in self.rows)
        tokens_out = sum(r.exchange.tokens_out or 0 for r in self.rows)
        calls = sum(len(r.exchange.tool_calls) for r in self.rows)
        refused = sum(1 for r in self.rows for _, ok in r.results.values() if not ok)
        text = Text(
            f"{len(self.rows)} inferences · tokens {tokens_in} in, {tokens_out} out · "
            f"{calls} tool calls ({refused} refused)"
        )
        reasoned = [r.exchange.reasoning_s for r in self.rows if r.exchange.reasoning_s]
        if reasoned:
            text.append(
                f"  the model thinks before it speaks: {sum(reasoned) / len(reasoned):.1f} s "
                f"a turn ({len(reasoned)} of {len(self.rows)} answers)",
                style="yellow",
            )
        if self.since_caller >= LOOP_WARNING_AT:
            text.append(
                f"  ⚠ {self.since_caller} LLM calls since the caller last spoke: a tool loop?",
                style="bold red",
            )
        elif self.refused_in_a_row >= REFUSED_WARNING_AT:
            text.append(
                f"  ⚠ {self.refused_in_a_row} tool calls refused in a row: the model is looping",
                style="bold red",
            )
        elif self.worst_loop is not None:
            count, at = self.worst_loop
            text.append(
                f"  ⚠ a tool loop at {clock(at)}: {count} tool calls refused in a row", style="red"
            )
        self.query_one("#llm-summary", Static).update(text)

    def _show(self, index: int) -> None:
        self.query_one("#llm-detail-text", Static).update(describe_exchange(self.rows[index]))

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        index = message.cursor_row
        if 0 <= index < len(self.rows):
            self.follow = index == len(self.rows) - 1
            self._show(index)
