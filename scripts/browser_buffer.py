"""How long a real browser holds the bot's voice before playing it.

The turn-taking and latency benchmarks time the answer at an aiortc caller, whose receive
buffer holds every audio packet until four more have come (80 ms). A browser's buffer
(WebRTC's NetEq) adapts instead. This opens the page in headless Chromium, calls
localagent (local avatar, the test LLM), and prints, every few seconds of the call, the
average time each played sample spent in Chromium's buffer over that stretch (from
`getStats()`: the growth of `jitterBufferDelay` over that of `jitterBufferEmittedCount`)
and the buffer's target delay.

    python scripts/browser_buffer.py [--seconds 40] [--every 4]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from localagent.cpu import cpu_summary
from localagent.testing.app_process import run_app
from localagent.testing.browser import launch_chromium, open_call
from localagent.testing.fake_ollama import ThreadedFakeOllama

# The page's pipecat client, its SmallWebRTC transport and that transport's peer connection.
STATS = """async () => {
  const client = window.localagent.client;
  const transport = client && (client.transport || client._transport);
  const pc = transport && (transport.pc || transport._pc);
  if (!pc) return null;
  let found = null;
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") found = {
      delay: r.jitterBufferDelay, emitted: r.jitterBufferEmittedCount,
      target: r.jitterBufferTargetDelay,
    };
  });
  return found;
}"""


async def measure(url: str, seconds: float, every: float) -> list[tuple[float, float, float]]:
    """(seconds into the call, ms held per sample over the stretch, target ms) rows."""
    from playwright.async_api import async_playwright

    rows: list[tuple[float, float, float]] = []
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            page = await browser.new_page()
            await open_call(page, url)
            before: dict[str, Any] | None = None
            at = 0.0
            while at < seconds:
                await asyncio.sleep(every)
                at += every
                now = await page.evaluate(STATS)
                if now is None:
                    raise SystemExit("the page's peer connection was not found")
                if before is not None and now["emitted"] > before["emitted"]:
                    samples = now["emitted"] - before["emitted"]
                    held = (now["delay"] - before["delay"]) / samples
                    target = (now["target"] - before["target"]) / samples
                    rows.append((at, held * 1000, target * 1000))
                before = now
            await page.click("#connect")  # hang up
        finally:
            await browser.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=40.0, help="how long to stay on")
    parser.add_argument("--every", type=float, default=4.0, help="seconds per stretch")
    args = parser.parse_args()
    print(f"CPU: {cpu_summary()}", flush=True)  # every figure names its CPU
    with (
        ThreadedFakeOllama() as fake,
        run_app("--ollama-host", fake.url, "--avatar", "local") as app,
    ):
        if not app.url:
            raise SystemExit(f"localagent did not start:\n{app.output}")
        rows = asyncio.run(measure(app.url, args.seconds, args.every))
    print(f"\n{'s into the call':>16}{'held ms':>10}{'target ms':>11}")
    for at, held, target in rows:
        print(f"{at:>16.0f}{held:>10.1f}{target:>11.1f}")
    print(
        "\nheld: the average time a played sample spent in Chromium's receive buffer over the"
        " stretch; the aiortc caller of the benchmarks holds 80 ms (four 20 ms packets)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
