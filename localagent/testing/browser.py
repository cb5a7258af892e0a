"""Headless Debian Chromium for the page's tests and benchmarks, launched one way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"


async def launch_chromium(
    pw: Any,
    mic: Path | None = None,
    *,
    allow_mic: bool = True,
    devices: bool = True,
    extra: tuple[str, ...] = (),
) -> Any:
    """Headless Chromium from Playwright `pw`, with a fake camera and microphone (`mic`: a
    WAV it loops), and none of its background calls home (tests run with no network).
    `allow_mic=False` answers the microphone prompt "Block"; `devices=False` leaves it with
    no microphone."""
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--use-fake-ui-for-media-stream" if allow_mic else "--deny-permission-prompts",
        *(["--use-fake-device-for-media-stream"] if devices else []),
        "--autoplay-policy=no-user-gesture-required",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    if mic is not None:
        args.append(f"--use-file-for-fake-audio-capture={mic}")
    args += extra
    return await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


async def open_call(page: Any, url: str) -> None:
    """Open the page at `url` and start a call: connected, and ready to talk."""
    await page.goto(url)
    await page.click("#connect")
    await page.wait_for_function(
        "document.querySelector('#state').dataset.kind === 'ready'", timeout=60_000
    )
