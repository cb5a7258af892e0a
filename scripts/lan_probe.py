"""Hostile probes against a LAN bind (HTTPS, a token, per-address limits), with the defaults.

Starts `python -m localagent --host 0.0.0.0` against the test LLM server and, over loopback
from other addresses of 127.0.0.0/8 (which the limits treat as other machines):
- opens 40 TCP connections that never start the TLS handshake, from 40 addresses and then
  from one, and times how long the server takes to close each;
- opens 200 connections from one address: how many stay open, how soon the rest are
  refused, and whether another address is still answered meanwhile;
- sends 50 wrong tokens from one address, then the right token from it and from another.

    python scripts/lan_probe.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import aiohttp

from localagent.cpu import cpu_summary
from localagent.testing.app_process import run_app
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.sockets import open_from, until_closed


async def _status(port: int, source: str, token: str) -> int:
    connector = aiohttp.TCPConnector(local_addr=(source, 0), ssl=False, force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(f"https://127.0.0.1:{port}/api/status?token={token}") as resp,
    ):
        return resp.status


def _figures(closed: list[float]) -> str:
    done = [c for c in closed if c != float("inf")]
    if not done:
        return "none closed"
    return (
        f"{len(done)}/{len(closed)} closed; median {statistics.median(done):.2f} s, "
        f"last {max(done):.2f} s"
    )


def main() -> int:
    print(cpu_summary())
    with (
        ThreadedFakeOllama() as ollama,
        run_app("--host", "0.0.0.0", "--ollama-host", ollama.url) as app,
    ):
        port, token = int(app.url.split(":")[2].split("/")[0]), app.url.split("token=")[1]
        print("40 silent connections from 40 addresses:", _figures(
            until_closed([open_from(f"127.0.1.{i + 1}", port) for i in range(40)], 30)
        ))  # fmt: skip
        print("40 silent connections from one address:", _figures(
            until_closed([open_from("127.0.2.1", port) for _ in range(40)], 30)
        ))  # fmt: skip
        flood = [open_from("127.0.3.1", port) for _ in range(200)]
        started = time.monotonic()
        other = asyncio.run(_status(port, "127.0.3.2", token))
        served_in = time.monotonic() - started
        closed = until_closed(flood, 3)
        quick = [c for c in closed if c != float("inf")]
        last = f" (the last after {max(quick):.2f} s)" if quick else ""
        print(
            f"200 connections from one address: {200 - len(quick)} held open, {len(quick)} "
            f"refused{last}; another address answered {other} in {served_in:.2f} s"
        )

        async def tokens() -> tuple[list[int], int, int]:
            wrong = [await _status(port, "127.0.4.1", "wrong") for _ in range(50)]
            return (
                wrong,
                await _status(port, "127.0.4.1", token),
                await _status(port, "127.0.4.2", token),
            )

        wrong, same, elsewhere = asyncio.run(tokens())
        counts = {s: wrong.count(s) for s in sorted(set(wrong))}
        print(
            f"50 wrong tokens from one address: {counts}; then the right token from it: "
            f"{same}, from another address: {elsewhere}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
