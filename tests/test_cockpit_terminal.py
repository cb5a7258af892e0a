"""The cockpit in a real terminal during a real call, then its replay: a tool loop and an
interrupted answer must be obvious in both, as a user would see them."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from localagent.store import SessionStore
from localagent.testing.app_process import fetch_status
from localagent.testing.caller import Caller
from localagent.testing.cli import free_port
from localagent.testing.fake_ollama import Reply, ThreadedFakeOllama, ToolCall
from localagent.testing.speech import synthesize
from localagent.testing.terminal import Tmux


def _wait_listening(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            fetch_status(f"http://127.0.0.1:{port}")
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port}")


LOOPING = Reply(tool_calls=(ToolCall("reboot_printer", {"printer": "2nd floor"}),))


async def test_a_tool_loop_and_an_interrupted_answer_in_the_terminal_and_its_replay(
    tmp_path: Path,
) -> None:
    port = free_port()
    with ThreadedFakeOllama(ttft_s=0.15, tokens_per_s=25) as fake:
        # The model keeps calling a tool the flow does not have; the guard stops it at 3.
        fake.server.replies.extend(
            [Reply(text="Hi, I am Ada from the help desk. What can I do for you?")]
            + [LOOPING] * 6
            + [Reply(text="Sure, let us stop there. What else can I do?")] * 2
        )
        command = (
            f"LOCALAGENT_DATA_DIR={tmp_path} {sys.executable} -m localagent --port {port} "
            f"--ollama-host {fake.url} --avatar local"
        )
        with Tmux(command) as terminal:
            terminal.wait_for(lambda s: f"127.0.0.1:{port}" in s and "Latency" in s, 120)
            _wait_listening(port)
            async with Caller(f"http://127.0.0.1:{port}") as caller:
                await caller.wait_for_voice(since=0.0, timeout=60)
                await caller.wait_for_silence(quiet_s=1.0, timeout=30)
                ended = await caller.say(
                    synthesize("Please reboot the printer on the second floor.")
                )
                await caller.wait_for_voice(since=ended + 0.05, timeout=60)  # the apology
                await asyncio.sleep(1.5)
                await caller.say(synthesize("No, stop, that is enough."))  # over it
                await caller.wait_for_silence(quiet_s=1.5, timeout=60)
                await asyncio.sleep(1.0)
                terminal.keys("2")
                llm = terminal.wait_for(lambda s: "refused in a row" in s, timeout=10)
                # The loop stays flagged after the caller's next turn (with its time).
                assert "⚠" in llm and "tool calls refused in a row" in llm, llm
                assert "reboot_printer" in llm and "[interrupted]" in llm, llm  # transcript too
                terminal.keys("s")
                detail = terminal.wait_for(lambda s: "what happened" in s, timeout=10)
                assert detail.count("[refused]") >= 3 and "tools fault" in detail, detail
                terminal.keys("Escape")
                terminal.wait_for(lambda s: "what happened" not in s, timeout=10)
            terminal.keys("q")
            assert terminal.wait_gone(30), terminal.screen()
    [recorded] = SessionStore(tmp_path / "sessions.sqlite3").list()
    replay = f"LOCALAGENT_DATA_DIR={tmp_path} {sys.executable} -m localagent sessions replay"
    with Tmux(f"{replay} {recorded.id}") as terminal:
        terminal.wait_for(lambda s: "Replay of session" in s)
        terminal.keys("a", "2")
        # the LLM view shows the loop before "all" has stepped the transcript on: wait for
        # both (under load, the first came alone)
        llm = terminal.wait_for(lambda s: "refused in a row" in s and "[interrupted]" in s, 30)
        assert "tool calls refused in a row" in llm and "[interrupted]" in llm, llm
        terminal.keys("q")
        assert terminal.wait_gone()
