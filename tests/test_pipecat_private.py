"""Every pipecat private name the project reads, writes or overrides is in one list.

pipecat's private names (`_something`) can change in any release; `docs/pipecat.md`
("Private names") lists each one the project touches, where, and the pipecat source it
follows. This test finds them all in `localagent/`, `scripts/` and `tests/`:

- in a class that derives from a pipecat class (or a mixin of one), `self._x` and the
  methods it defines, where `_x` is a private name of a pipecat class in its MRO;
- `from pipecat... import _x`;
- `obj._x` on any other object, where `_x` is private somewhere in pipecat (the type of
  `obj` is not known here, so other libraries' private names of the same spelling are
  listed too, as such).

It fails on a use the list does not name, and on a listed use that is gone.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from functools import cache
from pathlib import Path

import pipecat

ROOT = Path(__file__).resolve().parent.parent
PIPECAT = Path(pipecat.__file__).parent
DOC = ROOT / "docs" / "pipecat.md"
SCANNED = ("localagent", "scripts", "tests")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _names_in(tree: ast.AST) -> set[str]:
    found = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and _private(n.attr):
            found.add(n.attr)
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and _private(n.name):
            found.add(n.name)
    return found


@cache
def _all_pipecat_private() -> frozenset[str]:
    names: set[str] = set()
    for path in PIPECAT.rglob("*.py"):
        names |= _names_in(ast.parse(path.read_text()))
    return frozenset(names)


@cache
def _pipecat_private_of(cls: type) -> frozenset[str]:
    """Private names the pipecat classes in `cls`'s MRO use or define."""
    names: set[str] = set()
    for k in cls.__mro__:
        if (k.__module__ or "").split(".")[0] != "pipecat":
            continue
        try:
            names |= _names_in(ast.parse(textwrap.dedent(inspect.getsource(k))))
        except (OSError, TypeError):
            continue
    return frozenset(names)


def _module_of(path: Path) -> object | None:
    rel = path.relative_to(ROOT).with_suffix("")
    if rel.parts[0] != "localagent" or rel.name == "__main__":
        return None  # scripts and tests are read, not imported
    return importlib.import_module(".".join(rel.parts).removesuffix(".__init__"))


def _uses(path: Path) -> set[tuple[str, str]]:
    tree = ast.parse(path.read_text())
    rel = path.relative_to(ROOT).as_posix()
    module = _module_of(path)
    found: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipecat"):
            found |= {(rel, a.name) for a in node.names if _private(a.name)}
    classes = {
        c.name: getattr(module, c.name, None) for c in ast.walk(tree) if isinstance(c, ast.ClassDef)
    }
    for c in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        cls = classes[c.name]
        if not inspect.isclass(cls):
            continue
        # a mixin is judged by the pipecat classes it is mixed into in its module
        mixed = [k for k in classes.values() if inspect.isclass(k) and cls in k.__mro__]
        private = frozenset().union(*(_pipecat_private_of(k) for k in mixed))
        for n in ast.walk(c):
            if (
                isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Name)
                and n.value.id in ("self", "cls")
                and n.attr in private
            ):
                found.add((rel, n.attr))
        found |= {
            (rel, n.name)
            for n in c.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name in private
        }
    everywhere = _all_pipecat_private()
    for n in ast.walk(tree):
        if (
            isinstance(n, ast.Attribute)
            and n.attr in everywhere
            and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))
        ):
            found.add((rel, n.attr))
    return found


def _documented() -> set[tuple[str, str]]:
    text = DOC.read_text()
    section = text[text.index("## Private names") :]
    rows = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        path = cells[0].strip("`")
        rows |= {(path, name) for name in re.findall(r"`(_[A-Za-z0-9_]+)`", cells[1])}
    return rows


def test_every_pipecat_private_name_used_is_listed_and_every_listed_one_used() -> None:
    used: set[tuple[str, str]] = set()
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "node_modules" not in path.parts:
                used |= _uses(path)
    listed = _documented()
    assert not used - listed, (
        "pipecat private names used but not listed in docs/pipecat.md: "
        + ", ".join(f"{p}: {n}" for p, n in sorted(used - listed))
    )
    assert not listed - used, "docs/pipecat.md lists private names no longer used: " + ", ".join(
        f"{p}: {n}" for p, n in sorted(listed - used)
    )


def test_the_turn_taking_decisions_import_no_pipecat() -> None:
    for path in sorted((ROOT / "localagent" / "turns").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not [n for n in names if n.split(".")[0] in ("pipecat", "asyncio")], path


def test_the_turn_stop_and_barge_in_adapters_use_no_pipecat_private_name() -> None:
    for module in ("localagent/call/turn_stop.py", "localagent/call/barge_in.py"):
        assert not _uses(ROOT / module), module
