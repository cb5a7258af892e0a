"""The tool-loop guard's count: refused or repeated calls in a row, reset by progress."""

from __future__ import annotations

from typing import Any

from pipecat.frames.frames import FunctionCallResultFrame

from localagent.call.tool_guard import ToolLoopGuard


def result(name: str, arguments: dict[str, Any], result: Any) -> FunctionCallResultFrame:
    return FunctionCallResultFrame(
        function_name=name, tool_call_id="t", arguments=arguments, result=result
    )


REFUSED = {"status": "error", "error": "missing summary"}


def test_refusals_in_a_row_stop_the_loop_and_progress_resets_the_count() -> None:
    guard = ToolLoopGuard(limit=3)
    assert guard._count(result("record_issue", {"x": 1}, REFUSED)) is None
    assert guard._count(result("record_issue", {"x": 2}, REFUSED)) is None
    assert guard._count(result("record_issue", {"summary": "printer"}, {"status": "ok"})) is None
    assert (
        guard._count(result("book", {}, "The function `book` is not currently available.")) is None
    )
    assert guard._count(result("record_issue", {"x": 3}, REFUSED)) is None
    stopped = guard._count(result("record_issue", {"x": 4}, REFUSED))
    assert stopped is not None and "record_issue 6 times" in stopped and "last 3" in stopped
    guard.user_turn()
    assert guard._count(result("record_issue", {"x": 4}, REFUSED)) is None


def test_the_same_call_again_counts_even_when_it_succeeds() -> None:
    guard = ToolLoopGuard(limit=3)
    ok = {"status": "recorded"}
    assert guard._count(result("record_issue", {"summary": "a"}, ok)) is None
    assert guard._count(result("record_issue", {"summary": "a"}, ok)) is None
    assert guard._count(result("record_issue", {"summary": "a"}, ok)) is None
    assert guard._count(result("record_issue", {"summary": "a"}, ok)) is not None


def test_a_runaway_of_distinct_calls_is_stopped_too() -> None:
    guard = ToolLoopGuard(limit=2)
    outcomes = [guard._count(result("step", {"n": n}, {"status": "ok"})) for n in range(8)]
    assert outcomes[:7] == [None] * 7 and outcomes[7] is not None
