"""Loading flows by name or path, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from localagent.errors import FlowLoadError
from localagent.flows.loader import load_flow
from localagent.settings import REPO_ROOT

FLOWS = REPO_ROOT / "flows"


def test_shipped_flow_loads_by_name_and_path() -> None:
    by_name = load_flow("helpdesk", FLOWS)
    by_path = load_flow(str(FLOWS / "helpdesk.yaml"), Path("/nonexistent"))
    assert by_name.name == by_path.name == "helpdesk"
    assert by_name.flow.initial_node["name"] == "greet"


def test_broken_flows_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "initial_node: nowhere\nnodes:\n  a:\n    task_messages: []\n"
    )
    with pytest.raises(FlowLoadError, match="initial_node 'nowhere' is not a defined node"):
        load_flow("bad", tmp_path)
    (tmp_path / "nohandler.yaml").write_text(
        "initial_node: a\nnodes:\n  a:\n    task_messages: []\n    functions:\n"
        "      - name: missing_tool\n"
    )
    with pytest.raises(FlowLoadError, match="missing_tool"):
        load_flow("nohandler", tmp_path)
    (tmp_path / "crash.yaml").write_text("initial_node: a\nnodes:\n  a:\n    task_messages: []\n")
    (tmp_path / "crash.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(FlowLoadError, match="failed to import: RuntimeError: boom"):
        load_flow("crash", tmp_path)
