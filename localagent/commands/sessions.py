"""`python -m localagent sessions list|show|export`: the calls recorded in SQLite."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from localagent.settings import Settings
from localagent.settings_loader import load_settings
from localagent.store import SessionRecord

__all__ = ["HELP", "add_arguments", "run"]

HELP = "recorded sessions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="recent sessions")
    show = actions.add_parser("show", help="one session as a transcript")
    show.add_argument("id", help="a session id (or its first characters)")
    replay = actions.add_parser(
        "replay", help="one session in the cockpit, turn by turn (n next, p back, q quit)"
    )
    replay.add_argument("id", help="a session id (or its first characters)")
    export = actions.add_parser("export", help="one session as JSON")
    export.add_argument("id")
    export.add_argument("--json", action="store_true", default=True, help="(the only format)")


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    from localagent.data_dir import check_sessions_database
    from localagent.store import SessionStore

    db = settings.data_dir / "sessions.sqlite3"
    if not db.exists():
        print(f"no sessions recorded yet ({db})", file=sys.stderr)
        return 1 if args.action != "list" else 0
    check_sessions_database(db)
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
    if args.action == "replay":
        return _replay(record, settings)
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
        elif e["kind"] == "ServiceFault":
            print(f"{at}  {e['service']} fault: {e['error']}")
    print(f"final state: {json.dumps(record.state, default=str)}")
    return 0


def _replay(record: SessionRecord, settings: Settings) -> int:
    if not sys.stdout.isatty():
        print("sessions replay needs a terminal (try `sessions show` for text)", file=sys.stderr)
        return 1
    from localagent.tui.replay import ReplayApp

    ReplayApp(record, _nodes(record, settings)).run()
    return 0


def _nodes(record: SessionRecord, settings: Settings) -> list[str]:
    """The recorded flow's nodes if it still loads, else the ones the call went through."""
    from localagent.errors import LocalAgentError
    from localagent.flows.loader import load_flow

    try:
        return list(load_flow(record.flow, settings.flows_dir).flow.config.nodes)
    except (LocalAgentError, OSError):
        return list(dict.fromkeys(record.path))
