"""`flows check` and `flows show`: every problem in a flow, and the flow as a graph.

The check finds what loading would (pipecat's config validation and handler resolution)
but keeps going past the first problem, and names the file and node of each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pipecat.flows import Flow, FlowConfig, FlowReferenceError
from pydantic import ValidationError

from localagent.errors import FlowLoadError
from localagent.flows.loader import find_flow_file, import_handlers

__all__ = ["Problem", "check_flow", "render_mermaid", "render_text"]


@dataclass(frozen=True)
class Problem:
    file: Path
    node: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: node '{self.node}'" if self.node else f"{self.file}"
        return f"{where}: {self.message}"


def _raw(path: Path) -> Any:
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _targets(transition: Any) -> list[str]:
    if isinstance(transition, str):
        return [transition]
    if isinstance(transition, dict):
        cases = transition.get("cases") or {}
        return [str(t) for t in cases.values()] + (
            [str(transition["default"])] if transition.get("default") else []
        )
    return []


def _graph_problems(path: Path, data: dict[str, Any]) -> list[Problem]:
    """Structural problems, found on the raw data so they show alongside field errors."""
    problems: list[Problem] = []
    raw_nodes = data.get("nodes")
    nodes: dict[str, Any] = raw_nodes if isinstance(raw_nodes, dict) else {}
    initial = data.get("initial_node")
    if initial not in nodes:
        problems.append(Problem(path, None, f"initial_node '{initial}' is not a defined node"))
    sources = [(None, data.get("global_functions") or [])] + [
        (name, (node or {}).get("functions") or [])
        for name, node in nodes.items()
        if isinstance(node, dict)
    ]
    for node_name, functions in sources:
        seen: set[str] = set()
        for function in functions if isinstance(functions, list) else []:
            if not isinstance(function, dict):
                continue
            name = function.get("name")
            if name in seen:
                problems.append(Problem(path, node_name, f"function '{name}' is listed twice"))
            seen.add(str(name))
            for target in _targets(function.get("transition_to")):
                if target not in nodes:
                    problems.append(
                        Problem(
                            path,
                            node_name,
                            f"function '{name}' transitions "
                            f"to '{target}', which is not a defined node",
                        )
                    )
    return problems


def _field_problems(path: Path, error: ValidationError) -> list[Problem]:
    problems = []
    for err in error.errors():
        loc = [str(p) for p in err["loc"]]
        if not loc:
            continue  # whole-config checks: _graph_problems reports these, node by node
        node = loc[1] if len(loc) > 1 and loc[0] == "nodes" else None
        field = ".".join(loc[2:] if node else loc)
        problems.append(Problem(path, node, f"{field}: {err['msg']}"))
    return problems


def check_flow(spec: str, flows_dir: Path) -> list[Problem]:
    """Every problem with a flow file and its handlers; empty when the flow would load."""
    try:
        path = find_flow_file(spec, flows_dir)
    except FlowLoadError as e:
        return [Problem(Path(spec), None, e.message)]
    try:
        data = _raw(path)
    except (yaml.YAMLError, json.JSONDecodeError) as e:
        return [Problem(path, None, f"not valid {path.suffix[1:].upper()}: {e}")]
    if not isinstance(data, dict):
        return [Problem(path, None, "a flow file must hold a mapping with initial_node and nodes")]

    problems = _graph_problems(path, data)
    config: FlowConfig | None = None
    try:
        config = FlowConfig.model_validate(data)
    except ValidationError as e:
        problems += _field_problems(path, e)

    handler_path = path.with_suffix(".py")
    handlers: Any = {}
    if handler_path.is_file():
        try:
            handlers = import_handlers(handler_path)
        except FlowLoadError as e:
            return [*problems, Problem(handler_path, None, e.message)]
    if config is not None:
        try:
            Flow(config, handlers=handlers)
        except FlowReferenceError as e:
            problems += [Problem(handler_path, p.node, p.message) for p in e.problems]
    return problems


def _edges(config: FlowConfig) -> list[tuple[str | None, str, str, str]]:
    """(from node or None for global, function, label, to node)."""
    edges = []
    for source, functions in [(None, config.global_functions)] + [
        (name, node.functions) for name, node in config.nodes.items()
    ]:
        for f in functions:
            t = f.transition_to
            if isinstance(t, str):
                edges.append((source, f.name, f.name, t))
            elif t is not None:
                for value, target in t.cases.items():
                    edges.append((source, f.name, f"{f.name}: {t.field}={value}", target))
                if t.default:
                    edges.append((source, f.name, f"{f.name}: otherwise", t.default))
    return edges


def _ends(node: FlowConfig.Node) -> bool:
    return any(a.type == "end_conversation" for a in [*node.pre_actions, *node.post_actions])


def render_text(config: FlowConfig, name: str) -> str:
    lines = [f"flow {name}: starts at '{config.initial_node}'"]
    edges = _edges(config)
    for node_name, node in config.nodes.items():
        marks = [
            m
            for m, on in (
                ("start", node_name == config.initial_node),
                ("ends the call", _ends(node)),
            )
            if on
        ]
        lines.append(f"  {node_name}" + (f"  ({', '.join(marks)})" if marks else ""))
        for f in node.functions:
            targets = [e for e in edges if e[0] == node_name and e[1] == f.name]
            if not targets:
                lines.append(f"    {f.name}  (stays)")
            for _, _, label, target in targets:
                lines.append(f"    {label} -> {target}")
    globals_ = [e for e in edges if e[0] is None]
    if config.global_functions:
        lines.append("  at every node:")
        for f in config.global_functions:
            targets = [e for e in globals_ if e[1] == f.name]
            lines += [f"    {label} -> {target}" for _, _, label, target in targets] or [
                f"    {f.name}  (stays)"
            ]
    return "\n".join(lines)


def render_mermaid(config: FlowConfig) -> str:
    lines = ["flowchart TD", f"  start(( )) --> {config.initial_node}"]
    for node_name, node in config.nodes.items():
        shape = f"{node_name}([{node_name}])" if _ends(node) else f"{node_name}[{node_name}]"
        lines.append(f"  {shape}")
    for source, _, label, target in _edges(config):
        sources = [source] if source else list(config.nodes)
        for s in sources:
            if source is None and s == target:
                continue
            arrow = "-.->" if source is None else "-->"
            lines.append(f'  {s} {arrow}|"{label}"| {target}')
    return "\n".join(lines)
