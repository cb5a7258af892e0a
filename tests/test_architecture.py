"""The layout keeps its promises: no import cycle (type-checking imports too), the TUI and
`doctor` without pipecat, one latency vocabulary, and the module table of
docs/architecture.md naming what is there."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

import localagent
from localagent.events import LATENCY_FIGURES, TurnLatency

PACKAGE = Path(localagent.__file__).parent
README = PACKAGE.parent / "docs" / "architecture.md"  # its module table


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "node_modules" not in p.parts}


def _imports(path: Path, known: set[str]) -> set[str]:
    """localagent modules `path` imports, anywhere in it (functions too), `if
    TYPE_CHECKING:` blocks included: a cycle that only the type checker follows is still
    two modules that each need the other to be understood."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
    return {m for m in found if m in known and m.startswith("localagent")}


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        for nxt in graph[node]:
            if nxt in stack:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in done:
                visit(nxt, [*stack, nxt], done)
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name], done)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_tui_imports_no_pipecat() -> None:
    loaded = _loaded_after("import localagent.tui.app, localagent.tui.panels")
    assert "localagent.tui.app" in loaded
    assert not [m for m in loaded if m.split(".")[0] == "pipecat"]


def test_doctor_imports_no_pipecat_and_no_server() -> None:
    code = (
        "from localagent.commands import doctor\n"
        "from localagent.settings import Settings\n"
        "s = Settings()\n"
        "for check in (doctor.check_python, doctor.check_packages, doctor.check_config):\n"
        "    check()\n"
        "for check in (doctor.check_cuda, doctor.check_models, doctor.check_port,\n"
        "              doctor.check_browser):\n"
        "    check(s)\n"
    )
    loaded = _loaded_after(code)
    assert "localagent.commands.doctor" in loaded and "localagent.web.port" in loaded
    assert not [m for m in loaded if m.split(".")[0] == "pipecat"]
    assert not [m for m in loaded if m.startswith(("localagent.web.server", "localagent.call"))]


def test_the_cli_help_loads_no_pipecat() -> None:
    loaded = _loaded_after("from localagent.cli import build_parser\nbuild_parser()")
    assert not [m for m in loaded if m.split(".")[0] == "pipecat"]


def test_latency_figures_are_spelt_once() -> None:
    from localagent.call.latency import _KEYS

    own = [f.name for f in fields(TurnLatency) if f.type == "float" and f.name != "at"]
    assert tuple(own) == LATENCY_FIGURES
    assert {*_KEYS, "voice_to_voice"} == set(LATENCY_FIGURES)
    elsewhere = [
        p
        for p in [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "scripts").glob("*.py")]
        if p.name not in ("events.py", "latency.py") and '"turn_wait"' in p.read_text()
    ]
    assert not elsewhere, f"latency figure names spelt again in {elsewhere}"


def _module_table() -> list[str]:
    text = README.read_text()
    table = text[text.index("| module |") :].split("\n\n")[0]
    return re.findall(r"`(localagent/[^`]+)`", table)


def test_the_module_table_matches_the_package() -> None:
    named = _module_table()
    assert named, "docs/architecture.md lost its module table"
    for path in named:
        assert (PACKAGE.parent / path).exists(), f"the table names {path}, which is not there"
    packages = sorted(
        p.parent.relative_to(PACKAGE.parent).as_posix() + "/" for p in PACKAGE.glob("*/__init__.py")
    )
    for package in packages:
        assert any(n.startswith(package) for n in named), f"the table misses {package}"


@pytest.mark.parametrize("module", sorted(_modules()))
def test_modules_stay_small(module: str) -> None:
    lines = len(_modules()[module].read_text().splitlines())
    assert lines <= 500, f"{module} has {lines} lines: split it (one noun per module)"
