"""`flows check`, `flows show`, and `sessions` as a user runs them."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from localagent.events import (
    EventBus,
    FunctionCalled,
    NodeEntered,
    SessionEnded,
    SessionStarted,
    StateChanged,
    Turn,
)
from localagent.flows.graph import check_flow
from localagent.recorder import Recorder
from localagent.settings import REPO_ROOT
from localagent.store import SessionStore
from localagent.testing.cli import run_cli

FLOWS = REPO_ROOT / "flows"


def localagent(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"LOCALAGENT_DATA_DIR": str(data_dir)} if data_dir else None)


def write_flow(folder: Path, name: str, yaml_text: str, handlers: str | None = None) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(yaml_text))
    if handlers is not None:
        (folder / f"{name}.py").write_text(textwrap.dedent(handlers))
    return path


GOOD_HANDLERS = '''
    from pipecat.flows import TRANSITION_IN_YAML

    async def record(flow_manager, value: str):
        """Record a value.

        Args:
            value: The value.
        """
        return {"status": "ok"}, TRANSITION_IN_YAML
'''


def test_shipped_flows_pass_the_check() -> None:
    result = localagent("flows", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("booking", "triage", "helpdesk"):
        assert f"ok: {FLOWS / name}.yaml" in result.stdout


def test_check_reports_every_problem_with_file_and_node(tmp_path: Path) -> None:
    path = write_flow(
        tmp_path,
        "broken",
        """
        initial_node: start
        nodes:
          start:
            task_messages:
              - role: developer
                content: Ask for a value.
            functions:
              - name: record
                transition_to: finish
              - name: unknown_tool
                transition_to: start
          done:
            task_messages:
              - role: developer
    """,
        GOOD_HANDLERS,
    )
    problems = [str(p) for p in check_flow(str(path), tmp_path)]
    assert problems == [
        f"{path}: node 'start': function 'record' transitions to 'finish', which is not a "
        "defined node",
        f"{path}: node 'done': task_messages.0.content: Field required",
    ]
    # Once the config itself is fixed, the handler references are checked too.
    write_flow(
        tmp_path,
        "broken",
        """
        initial_node: start
        nodes:
          start:
            task_messages: []
            functions:
              - name: record
                transition_to: start
              - name: unknown_tool
    """,
    )
    problems = [str(p) for p in check_flow(str(path), tmp_path)]
    assert problems == [
        f"{tmp_path / 'broken.py'}: node 'start': node 'start' references "
        "tool 'unknown_tool', which is not in the handlers"
    ]
    result = localagent("flows", "check", str(path))
    assert result.returncode == 1
    assert "unknown_tool" in result.stdout and "1 of 1 flow(s) have problems" in result.stderr


def test_check_catches_a_bad_handler_signature(tmp_path: Path) -> None:
    path = write_flow(
        tmp_path,
        "sig",
        """
        initial_node: start
        nodes:
          start:
            task_messages: []
            functions:
              - name: record
    """,
        """
        def record(value):
            return {"status": "ok"}, None
    """,
    )
    problems = check_flow(str(path), tmp_path)
    assert len(problems) == 1
    assert problems[0].node == "start" and "record" in problems[0].message
    assert problems[0].file == tmp_path / "sig.py"


def test_check_names_yaml_errors_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "syntax.yaml").write_text("initial_node: a\nnodes: [\n")
    [problem] = check_flow("syntax", tmp_path)
    assert str(problem).startswith(f"{tmp_path / 'syntax.yaml'}: not valid YAML")
    [missing] = check_flow("nope", tmp_path)
    assert "Flow 'nope' not found" in missing.message


def test_show_renders_any_valid_flow_config(tmp_path: Path) -> None:
    # pipecat's own documented example config, with no handler module beside it.
    path = write_flow(
        tmp_path,
        "pizza",
        """
        initial_node: greet
        nodes:
          greet:
            role_message: You are a friendly order-taking assistant.
            task_messages:
              - role: developer
                content: Greet the caller and ask whether they want pizza or sushi.
            functions:
              - name: choose_pizza
                transition_only: true
                description: The caller wants to order pizza.
                transition_to: pizza
              - name: choose_sushi
                transition_only: true
                description: The caller wants to order sushi.
                transition_to: sushi
          pizza:
            task_messages:
              - role: developer
                content: Take a pizza order.
            functions:
              - name: select_pizza_order
                transition_to:
                  field: status
                  cases:
                    ok: confirm
                    unavailable: pizza
                  default: confirm
          sushi:
            task_messages: [{role: developer, content: Take a sushi order.}]
          confirm:
            task_messages: [{role: developer, content: Confirm.}]
        global_functions:
          - name: get_delivery_estimate
    """,
    )
    result = localagent("flows", "show", str(path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "flow pizza: starts at 'greet'" in out
    assert "    select_pizza_order: status=unavailable -> pizza" in out
    assert "    get_delivery_estimate  (stays)" in out
    assert "flowchart TD" in out
    assert 'greet -->|"choose_pizza"| pizza' in out
    assert 'pizza -->|"select_pizza_order: otherwise"| confirm' in out


def test_show_shipped_booking_flow() -> None:
    result = localagent("flows", "show", "booking", "--format", "text")
    assert result.returncode == 0
    assert "    change_booking: change=date_time -> date_time" in result.stdout
    assert "  goodbye  (ends the call)" in result.stdout


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """A data dir holding one recorded session, written through the real recorder."""
    store = SessionStore(tmp_path / "sessions.sqlite3")
    bus = EventBus()
    recorder = Recorder(store)
    bus.subscribe(recorder)
    sid = "abc123def456"
    bus.publish(SessionStarted(sid, flow="booking", avatar="local"))
    bus.publish(NodeEntered(sid, node="greet", previous=None, functions=("record_name",)))
    bus.publish(Turn(sid, role="assistant", text="Hello, what name?"))
    bus.publish(Turn(sid, role="user", text="Maria please"))
    bus.publish(
        FunctionCalled(
            sid,
            node="greet",
            name="record_name",
            arguments={"name": "Maria"},
            result={"status": "ok"},
        )
    )
    bus.publish(StateChanged(sid, state={"name": "Maria"}))
    bus.publish(SessionEnded(sid, reason="browser left", final_state={"name": "Maria"}))
    recorder.close()
    return tmp_path


def test_sessions_list_show_export(recorded: Path) -> None:
    listed = localagent("sessions", "list", data_dir=recorded)
    assert "abc123def456" in listed.stdout and "browser left" in listed.stdout
    shown = localagent("sessions", "show", "abc123", data_dir=recorded)  # a prefix is enough
    assert shown.returncode == 0
    assert "caller  Maria please" in shown.stdout
    assert 'call record_name({"name": "Maria"})' in shown.stdout
    assert 'final state: {"name": "Maria"}' in shown.stdout
    exported = localagent("sessions", "export", "abc123def456", "--json", data_dir=recorded)
    import json

    data = json.loads(exported.stdout)
    assert data["path"] == ["greet"] and data["final_state"] == {"name": "Maria"}
    assert [e["kind"] for e in data["events"]] == [
        "NodeEntered",
        "Turn",
        "Turn",
        "FunctionCalled",
        "StateChanged",
        "SessionEnded",
    ]
    missing = localagent("sessions", "show", "zzz", data_dir=recorded)
    assert missing.returncode == 1 and "no session 'zzz'" in missing.stderr
