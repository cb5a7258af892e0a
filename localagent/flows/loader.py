"""Loading a flow by name or path: `NAME.yaml` (or `.json`) with handlers in `NAME.py`."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from pipecat.flows import Flow, FlowConfig, FlowError

from localagent.errors import FlowLoadError

__all__ = ["LoadedFlow", "find_flow_file", "import_handlers", "load_flow"]

_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class LoadedFlow:
    name: str
    path: Path
    flow: Flow


def find_flow_file(spec: str, flows_dir: Path) -> Path:
    """`spec` is a flow name in `flows_dir` or a path to a flow file or its stem."""
    given = Path(spec).expanduser()
    candidates = [given] if given.suffix in _SUFFIXES else []
    for base in (given, flows_dir / spec):
        candidates += [base.with_name(base.name + s) for s in _SUFFIXES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    available = sorted(p.stem for s in _SUFFIXES for p in flows_dir.glob(f"*{s}"))
    raise FlowLoadError(
        f"Flow '{spec}' not found (looked for {spec}.yaml/.yml/.json in {flows_dir}).",
        f"use --flow with one of: {', '.join(available) or '(none found)'}, "
        "or a path to a flow file",
    )


def import_handlers(path: Path) -> ModuleType:
    name = f"localagent_flow_handlers.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FlowLoadError(f"Cannot import flow handlers from {path}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(name, None)
        raise FlowLoadError(
            f"Flow handlers {path} failed to import: {type(e).__name__}: {e}",
            "fix the error in the handler module",
        ) from e
    return module


def load_flow(spec: str, flows_dir: Path) -> LoadedFlow:
    """Load and validate a flow and its handlers; raise FlowLoadError naming the file."""
    path = find_flow_file(spec, flows_dir)
    try:
        config = FlowConfig.from_file(path)
    except (ValueError, OSError, FlowError) as e:
        raise FlowLoadError(f"Flow file {path} is invalid:\n{e}", "fix the flow file") from e
    handler_path = path.with_suffix(".py")
    handlers: object = import_handlers(handler_path) if handler_path.is_file() else {}
    try:
        flow = Flow(config, handlers=handlers)
    except FlowError as e:
        raise FlowLoadError(
            f"Flow {path} refers to handlers that {handler_path.name} does not provide:\n{e}",
            f"define them in {handler_path}",
        ) from e
    return LoadedFlow(name=path.stem, path=path, flow=flow)
