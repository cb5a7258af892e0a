"""`python -m localagent flows check|show`: validate flows with their handlers; draw one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from localagent.settings_loader import load_settings

__all__ = ["HELP", "add_arguments", "run"]

HELP = "check and show conversation flows"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="validate flows and their handlers")
    check.add_argument("flows", nargs="*", help="names or paths (default: all in flows/)")
    show = actions.add_parser("show", help="print a flow as text and Mermaid")
    show.add_argument("flow")
    show.add_argument("--format", choices=["text", "mermaid", "both"], default="both")
    for p in (parser, check, show):
        p.add_argument("--flows-dir", type=Path, default=None)


def run(args: argparse.Namespace) -> int:
    flows_dir = args.flows_dir or load_settings().flows_dir
    if args.action == "check":
        return _flows_check(args.flows, flows_dir)
    return _flows_show(args.flow, flows_dir, args.format)


def _flows_check(specs: list[str], flows_dir: Path) -> int:
    from localagent.flows.graph import check_flow

    if not specs:
        specs = sorted({str(p) for s in ("*.yaml", "*.yml", "*.json") for p in flows_dir.glob(s)})
        if not specs:
            print(f"no flows found in {flows_dir}", file=sys.stderr)
            return 1
    failed = 0
    for spec in specs:
        problems = check_flow(spec, flows_dir)
        for problem in problems:
            print(problem)
        if problems:
            failed += 1
        else:
            print(f"ok: {spec}")
    if failed:
        print(f"{failed} of {len(specs)} flow(s) have problems", file=sys.stderr)
    return 1 if failed else 0


def _flows_show(spec: str, flows_dir: Path, fmt: str) -> int:
    """Render from the config alone, so any valid FlowConfig shows, handlers or not."""
    import yaml
    from pipecat.flows import FlowConfig
    from pydantic import ValidationError

    from localagent.errors import FlowLoadError
    from localagent.flows.graph import render_mermaid, render_text
    from localagent.flows.loader import find_flow_file

    try:
        path = find_flow_file(spec, flows_dir)
        config = FlowConfig.from_file(path)
    except (FlowLoadError, ValidationError, ValueError, OSError, yaml.YAMLError) as e:
        print(
            f"localagent: cannot show {spec}: {e}\n  (run `python -m localagent flows "
            f"check {spec}` for every problem)",
            file=sys.stderr,
        )
        return 1
    if fmt in ("text", "both"):
        print(render_text(config, path.stem))
    if fmt == "both":
        print()
    if fmt in ("mermaid", "both"):
        print(render_mermaid(config))
    return 0
