"""`python -m localagent tui`: the cockpit, attached to a server running on this machine."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from localagent.settings_loader import load_settings

if TYPE_CHECKING:
    from localagent.web.cockpit import CockpitInfo

__all__ = ["HELP", "add_arguments", "run"]

HELP = "the cockpit (TUI) for a server already running on this machine"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "The server (python -m localagent --no-tui, e.g. under systemd) writes its address "
        "and a cockpit token to <data dir>/cockpit.json, readable by its user only; this "
        "reads them from the same data dir (LOCALAGENT_DATA_DIR)."
    )


def run(args: argparse.Namespace) -> int:
    from localagent.web.cockpit import COCKPIT_FILE, read_cockpit_file

    settings = load_settings()
    info = read_cockpit_file(settings.data_dir)
    if info is None:
        print(
            f"No running localagent server found: {settings.data_dir / COCKPIT_FILE} is "
            "missing. Start one with `python -m localagent --no-tui`, with the same "
            "LOCALAGENT_DATA_DIR.",
            file=sys.stderr,
        )
        return 1
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("localagent tui needs a terminal.", file=sys.stderr)
        return 1
    return asyncio.run(_attach(info))


async def _attach(info: CockpitInfo) -> int:
    import aiohttp

    from localagent.tui.attach import (
        AttachError,
        attached_app,
        cockpit_headers,
        cockpit_ssl,
        hello,
    )

    connector = aiohttp.TCPConnector(ssl=cockpit_ssl(info))
    async with aiohttp.ClientSession(headers=cockpit_headers(info), connector=connector) as http:
        try:
            greeting = await hello(http, info)
        except AttachError as e:
            print(str(e), file=sys.stderr)
            return 1
        await attached_app(http, info, greeting).run_async()
    return 0
