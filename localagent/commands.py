"""The sub-commands: `flows check|show`, `sessions list|show|export`; `models`, `doctor`
and `config` live in their own modules and are dispatched from here."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from localagent.settings import Settings

__all__ = ["SUBCOMMANDS", "run_subcommand"]

SUBCOMMANDS = ("flows", "sessions", "models", "doctor", "config")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m localagent")
    sub = parser.add_subparsers(dest="group", required=True)

    flows = sub.add_parser("flows", help="check and show conversation flows")
    flows_sub = flows.add_subparsers(dest="action", required=True)
    check = flows_sub.add_parser("check", help="validate flows and their handlers")
    check.add_argument("flows", nargs="*", help="names or paths (default: all in flows/)")
    show = flows_sub.add_parser("show", help="print a flow as text and Mermaid")
    show.add_argument("flow")
    show.add_argument("--format", choices=["text", "mermaid", "both"], default="both")
    for p in (flows, check, show):
        p.add_argument("--flows-dir", type=Path, default=None)

    sessions = sub.add_parser("sessions", help="recorded sessions")
    sessions_sub = sessions.add_subparsers(dest="action", required=True)
    sessions_sub.add_parser("list", help="recent sessions")
    show_s = sessions_sub.add_parser("show", help="one session as a transcript")
    show_s.add_argument("id", help="a session id (or its first characters)")
    export = sessions_sub.add_parser("export", help="one session as JSON")
    export.add_argument("id")
    export.add_argument("--json", action="store_true", default=True, help="(the only format)")
    return parser


def run_subcommand(argv: list[str]) -> int:
    if argv[0] == "models":
        from localagent.model_hub import models_main

        return models_main(argv[1:])
    if argv[0] == "doctor":
        from localagent.doctor import doctor_main

        return doctor_main(argv[1:])
    if argv[0] == "config":
        from localagent.config_file import config_main

        return config_main(argv[1:])
    args = _parser().parse_args(argv)
    settings = Settings()
    if args.group == "flows":
        flows_dir = args.flows_dir or settings.flows_dir
        return (
            _flows_check(args.flows, flows_dir)
            if args.action == "check"
            else _flows_show(args.flow, flows_dir, args.format)
        )
    return _sessions(args, settings)


def _flows_check(specs: list[str], flows_dir: Path) -> int:
    from localagent.flow_graph import check_flow

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
    from localagent.flow_graph import render_mermaid, render_text
    from localagent.flows import find_flow_file

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


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _sessions(args: argparse.Namespace, settings: Settings) -> int:
    from localagent.store import SessionStore

    db = settings.data_dir / "sessions.sqlite3"
    if not db.exists():
        print(f"no sessions recorded yet ({db})", file=sys.stderr)
        return 1 if args.action != "list" else 0
    store = SessionStore(db)
    if args.action == "list":
        print(f"{'id':<14}{'started':<21}{'flow':<12}{'turns':>6}  {'end':<16}path")
        for r in store.list():
            print(
                f"{r.id:<14}{_when(r.started_at):<21}{r.flow:<12}{len(r.turns):>6}  "
                f"{(r.end_reason or 'live or crashed'):<16}{' > '.join(r.path)}"
            )
        return 0
    record = store.get(args.id)
    if record is None:
        print(f"no session '{args.id}' in {db}", file=sys.stderr)
        return 1
    if args.action == "export":
        print(json.dumps(record.to_json(), indent=2, default=str))
        return 0
    print(f"session {record.id}  flow {record.flow}  avatar {record.avatar}")
    print(
        f"started {_when(record.started_at)}  ended {_when(record.ended_at)}"
        f"  ({record.end_reason or 'not ended: live or crashed'})"
    )
    for e in record.events:
        at = dt.datetime.fromtimestamp(e["at"]).strftime("%H:%M:%S")
        if e["kind"] == "Turn":
            who = "caller" if e["role"] == "user" else "agent "
            print(f"{at}  {who}  {e['text']}" + ("  [interrupted]" if e["interrupted"] else ""))
        elif e["kind"] == "NodeEntered":
            print(f"{at}  -> node {e['node']}")
        elif e["kind"] == "FunctionCalled":
            mark = "" if e["accepted"] else "  [refused]"
            print(
                f"{at}  call {e['name']}({json.dumps(e['arguments'])}) = "
                f"{json.dumps(e['result'], default=str)}{mark}"
            )
    print(f"final state: {json.dumps(record.state, default=str)}")
    return 0
