"""The page in headless Debian Chromium: connect with a fake microphone and watch the avatar."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from localagent.testing.app_process import AppProcess
from localagent.testing.browser import CHROMIUM, launch_chromium
from localagent.testing.cli import free_port
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.speech import write_wav

# CI sets LOCALAGENT_REQUIRE_BROWSER=1 so a missing browser fails instead of skipping.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not shutil.which(CHROMIUM) and not os.environ.get("LOCALAGENT_REQUIRE_BROWSER"),
        reason="Debian chromium is not installed (sudo apt-get install chromium)",
    ),
]


async def hang_up(page: Any) -> None:
    """Press Disconnect and wait until the page says so."""
    await page.click("#connect")
    await page.wait_for_function(
        "document.querySelector('#state').dataset.kind === 'disconnected'", timeout=20_000
    )


def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: LOCALAGENT_ARTIFACTS if set (to look at them), else tmp."""
    folder = Path(os.environ.get("LOCALAGENT_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def test_page_connects_and_plays_avatar(
    app: AppProcess,
    fake_ollama: ThreadedFakeOllama,
    printer_utterance: np.ndarray,
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    # Chromium loops the file as its microphone: speech, then six seconds of silence, room
    # for an answer even when smart-turn holds a turn it hears as unfinished (up to 1.5 s)
    # on a loaded machine. With 2 s, the next loop cut in before the answer on a CI run.
    padded = np.concatenate([printer_utterance, np.zeros(6 * 48000, dtype=np.int16)])
    wav = write_wav(tmp_path / "mic.wav", padded)
    fake_ollama.server.requests.clear()
    console_errors: list[str] = []

    async with async_playwright() as pw:
        browser = await launch_chromium(pw, mic=wav)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            signalling: list[str] = []
            page.on(
                "request",
                lambda r: (
                    r.method in ("POST", "PATCH")
                    and signalling.append(f"{r.method} {r.url.split('/', 3)[3]}")
                ),
            )
            await page.goto(app.url + "/")
            assert await page.title() == "localagent"
            await page.click("#connect")
            await page.wait_for_function(
                "document.querySelector('#state').dataset.kind === 'ready'", timeout=60_000
            )
            # The avatar video is really playing: it has frames and its clock advances.
            await page.wait_for_function(
                "(() => { const v = document.querySelector('#avatar');"
                " return v.videoWidth > 0 && v.currentTime > 1.0 && !v.paused; })()",
                timeout=60_000,
            )
            # pipecat's JS client started the session the runner's way: /start, then the
            # offer and its ICE candidates under the session's path.
            assert signalling[0] == "POST start", signalling
            session = re.fullmatch(r"POST sessions/([0-9a-f-]{36})/api/offer", signalling[1])
            assert session is not None, signalling
            assert all(
                s.endswith(f"sessions/{session.group(1)}/api/offer") for s in signalling[1:]
            ), signalling
            size = await page.evaluate(
                "[document.querySelector('#avatar').videoWidth,"
                " document.querySelector('#avatar').videoHeight]"
            )
            assert size == [1280, 720]
            # The fake microphone's words come back as a transcript at the LLM.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(
                "printer" in t.lower() for t in fake_ollama.server.user_texts()
            ):
                await page.wait_for_timeout(250)
            assert any("printer" in t.lower() for t in fake_ollama.server.user_texts()), (
                fake_ollama.server.user_texts()
            )
            # The page follows the call: flow node, per-turn latency, captions, devices.
            await page.wait_for_function(
                "document.querySelector('#latency').textContent.startsWith('last turn')",
                timeout=30_000,
            )
            # Every part of the turn is on the line, and the parts add up to its total.
            line = await page.text_content("#latency") or ""
            total, parts = re.match(r"last turn ([\d.]+) s \(([^)]*)\)", line).groups()  # type: ignore[union-attr]
            labels = [part.rsplit(" ", 1)[0] for part in parts.split(" + ")]
            assert labels[:3] == ["VAD", "STT", "end of turn"] and "avatar" in labels, line
            summed = sum(float(part.rsplit(" ", 1)[1]) for part in parts.split(" + "))
            assert abs(summed - float(total)) <= 0.01 * len(labels), line
            assert (await page.text_content("#flow-node") or "").startswith("node: ")
            assert "You:" in (await page.text_content("#captions") or "")
            # The bot's caption comes once its sentence was spoken.
            await page.wait_for_function(
                "document.querySelector('#captions').textContent.includes('Avatar:')",
                timeout=30_000,
            )
            mics = await page.eval_on_selector_all("#mic option", "os => os.map(o => o.text)")
            assert len(mics) >= 2 and any("Fake" in m for m in mics), mics
            await page.screenshot(path=str(artifacts(tmp_path) / "call-1280x800.png"))
            await page.set_viewport_size({"width": 640, "height": 900})
            await page.wait_for_timeout(300)
            await page.screenshot(path=str(artifacts(tmp_path) / "call-640x900.png"))
            await hang_up(page)
        finally:
            await browser.close()
    assert not console_errors, console_errors


async def test_page_shows_tavus_failover(fake_ollama: ThreadedFakeOllama, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    from localagent.testing.app_process import run_app
    from localagent.testing.mock_tavus import ThreadedMockTavus

    with ThreadedMockTavus(api_key="k") as tavus:
        tavus.server.fail_next(402, path_contains="/conversations")
        env = {
            "TAVUS_API_KEY": "k",
            "TAVUS_REPLICA_ID": "r-test-replica",
            "TAVUS_API_URL": tavus.url,
            "LOCALAGENT_DATA_DIR": str(tmp_path),
        }
        with run_app("--ollama-host", fake_ollama.url, env=env, fake_daily=True) as app:
            async with async_playwright() as pw:
                browser = await launch_chromium(pw)
                try:
                    page = await browser.new_page(viewport={"width": 1280, "height": 800})
                    await page.goto(app.url + "/")
                    # filled by the page's first status poll, which asks the LLM's server too
                    await page.wait_for_function(
                        "document.querySelector('#avatar-kind').textContent !== ''",
                        timeout=20_000,
                    )
                    assert await page.text_content("#avatar-kind") == "tavus avatar"
                    await page.click("#connect")
                    await page.wait_for_function(
                        "document.querySelector('#avatar-kind').textContent === 'local avatar'",
                        timeout=30_000,
                    )
                    banner = await page.text_content("#banner")
                    assert banner is not None and "out of conversational credits" in banner
                    assert await page.is_visible("#banner")
                    await page.wait_for_function(
                        "document.querySelector('#avatar').currentTime > 1.0", timeout=30_000
                    )
                    await page.screenshot(path=str(artifacts(tmp_path) / "failover.png"))
                    await page.click("#connect")
                finally:
                    await browser.close()
        assert tavus.server.open_conversations == []


async def test_page_says_why_a_model_without_tools_cannot_call_and_the_fix(
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    from localagent.testing.app_process import run_app
    from localagent.testing.model_profiles import PROFILES

    profiles = {"gemma3:4b": PROFILES["gemma3"], "qwen3:4b": PROFILES["qwen3"]}
    with (
        ThreadedFakeOllama(models=("gemma3:4b", "qwen3:4b"), profiles=profiles) as ollama,
        run_app(
            "--ollama-host",
            ollama.url,
            "--llm-model",
            "gemma3:4b",
            env={"LOCALAGENT_DATA_DIR": str(tmp_path)},
        ) as app,
    ):
        async with async_playwright() as pw:
            browser = await launch_chromium(pw)
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                await page.goto(app.url + "/")
                await page.wait_for_function(
                    "document.querySelector('#banner .msg').textContent.includes('tools')",
                    timeout=20_000,
                )
                await page.click("#connect")
                await page.wait_for_function(
                    "document.querySelector('#state').dataset.kind === 'error'",
                    timeout=20_000,
                )
                # the refusal's reason stays, not "could not connect"
                message = await page.text_content("#banner .msg") or ""
                fix = await page.text_content("#banner .fix") or ""
                assert "gemma3:4b does not support tools" in message, message
                assert "--llm-model qwen3:4b" in fix, fix
            finally:
                await browser.close()
        assert not ollama.server.requests  # no call reached the model


async def test_page_reconnects_after_a_reload_and_a_server_restart(
    fake_ollama: ThreadedFakeOllama, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    from localagent.testing.app_process import run_app

    port = str(free_port())
    ready = "document.querySelector('#state').dataset.kind === 'ready'"
    console_errors: list[str] = []
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            with run_app("--ollama-host", fake_ollama.url, "--port", port) as app:
                await page.goto(app.url + "/")
                await page.click("#connect")
                await page.wait_for_function(ready, timeout=60_000)
                await page.reload()  # mid-call: the page calls again by itself
                await page.wait_for_function(ready, timeout=60_000)
                await page.wait_for_function(
                    "document.querySelector('#connect').textContent === 'Disconnect'",
                    timeout=10_000,
                )
            # The server is gone: the page says so and keeps trying.
            await page.wait_for_function(
                "!document.querySelector('#banner').hidden", timeout=30_000
            )
            banner = await page.text_content("#banner") or ""
            assert "Reconnecting" in banner or "not answering" in banner, banner
            await page.screenshot(path=str(artifacts(tmp_path) / "reconnecting.png"))
            with run_app("--ollama-host", fake_ollama.url, "--port", port):
                await page.wait_for_function(ready, timeout=60_000)
                await page.wait_for_function(
                    "document.querySelector('#banner').hidden", timeout=30_000
                )
                await page.click("#connect")  # hang up: no more reconnecting
                await page.wait_for_function(
                    "document.querySelector('#state').dataset.kind === 'disconnected'",
                    timeout=20_000,
                )
                await page.wait_for_timeout(1500)
                assert await page.text_content("#connect") == "Connect"
        finally:
            await browser.close()
    assert not console_errors, console_errors


@pytest.mark.parametrize("case", ["blocked", "missing"])
async def test_page_explains_a_refused_or_missing_microphone_and_retries(
    app: AppProcess, case: str
) -> None:
    from playwright.async_api import async_playwright

    page_errors: list[str] = []
    async with async_playwright() as pw:
        browser = await launch_chromium(pw, allow_mic=False, devices=case != "missing")
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            page = await context.new_page()
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            await page.goto(app.url + "/")
            await page.click("#connect")
            await page.wait_for_selector("#banner .retry", state="visible", timeout=15_000)
            banner = await page.text_content("#banner .msg") or ""
            expected = "did not allow the microphone" if case == "blocked" else "No microphone"
            assert expected in banner, banner
            assert "Retry" in (await page.text_content("#banner .fix") or "")
            assert await page.text_content("#state") == "no microphone"
            assert not await page.is_disabled("#connect"), "Connect stayed disabled"
            if case == "blocked":  # the user allows it and presses Retry: the call starts
                await context.grant_permissions(["microphone"], origin=app.url.split("/?")[0])
                await page.click("#banner .retry")
                await page.wait_for_function(
                    "document.querySelector('#state').dataset.kind === 'ready'", timeout=60_000
                )
                assert await page.is_hidden("#banner")
                await hang_up(page)
        finally:
            await browser.close()
    assert not page_errors, page_errors


async def test_page_sets_a_photo_that_the_next_call_shows(
    fake_ollama: ThreadedFakeOllama, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    from localagent.avatar.landmarks import load_portrait
    from localagent.avatar.portrait import Portrait
    from localagent.testing.app_process import run_app
    from localagent.testing.portraits import astronaut, no_face

    photo, faceless = astronaut(tmp_path / "photos"), no_face(tmp_path / "photos")
    data = tmp_path / "data"
    flags = ("--ollama-host", fake_ollama.url, "--avatar", "local")
    page_errors: list[str] = []
    with run_app(*flags, env={"LOCALAGENT_DATA_DIR": str(data)}) as app:
        async with async_playwright() as pw:
            browser = await launch_chromium(pw)
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                page.on("pageerror", lambda e: page_errors.append(str(e)))
                await page.goto(app.url + "/")
                assert await page.is_hidden("#drawn-face")
                await page.set_input_files("#photo", str(faceless))
                await page.wait_for_function(
                    "document.querySelector('#banner .msg').textContent.includes('cannot be')",
                    timeout=30_000,
                )
                assert "No frontal face" in (await page.text_content("#banner .msg") or "")
                assert "looks into the camera" in (await page.text_content("#banner .fix") or "")
                await page.wait_for_timeout(5_500)  # a status poll (every 5 s) leaves it up
                assert "No frontal face" in (await page.text_content("#banner .msg") or "")
                await page.set_input_files("#photo", str(photo))
                await page.wait_for_function(
                    "document.querySelector('#banner .msg').textContent.includes('your photo')",
                    timeout=30_000,
                )
                assert await page.is_visible("#drawn-face")
                assert (data / "avatar" / "portrait.png").read_bytes() == photo.read_bytes()
                await page.click("#connect")
                await page.wait_for_function(
                    "document.querySelector('#avatar').currentTime > 1.5", timeout=60_000
                )
                rgba = await page.evaluate(
                    """() => { const v = document.querySelector('#avatar');
                    const c = document.createElement('canvas'); c.width = 160; c.height = 90;
                    const g = c.getContext('2d'); g.drawImage(v, 0, 0, 160, 90);
                    return Array.from(g.getImageData(0, 0, 160, 90).data); }"""
                )
                seen = np.array(rgba, np.uint8).reshape(90, 160, 4)[..., :3].astype(float)
                still = Portrait(*load_portrait(photo), 1280, 720).frame
                expected = cv2.resize(still, (160, 90), interpolation=cv2.INTER_AREA)
                assert np.abs(seen - expected).mean() < 12
                await page.screenshot(path=str(artifacts(tmp_path) / "portrait-1280x800.png"))
                await hang_up(page)
                await page.click("#drawn-face")
                await page.wait_for_function(
                    "document.querySelector('#banner .msg').textContent.includes('forgotten')",
                    timeout=10_000,
                )
                assert not (data / "avatar" / "portrait.png").exists()
            finally:
                await browser.close()
    assert not page_errors, page_errors


async def test_page_states_before_and_after_a_call_at_desktop_and_phone_sizes(
    app: AppProcess, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    from localagent.testing.portraits import no_face

    faceless = no_face(tmp_path)
    page_errors: list[str] = []
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            await page.goto(app.url + "/")
            # Before a call: the avatar's face at rest, and what to do.
            poster = await page.evaluate(
                """async () => { const r = await fetch(document.querySelector('#avatar').poster);
                return [r.status, r.headers.get('content-type'), (await r.blob()).size]; }"""
            )
            assert poster[0] == 200 and poster[1] == "image/jpeg" and poster[2] > 10_000, poster
            assert "Press Connect" in (await page.text_content("#stage-note") or "")
            await page.wait_for_function(
                "document.querySelector('#avatar').readyState === 0", timeout=5_000
            )
            await page.screenshot(path=str(artifacts(tmp_path) / "poster-1280x800.png"))
            # A banner lies over the top of the stage: the footer stays on screen, the
            # lower part of the face (the mouth) stays clear.
            await page.set_input_files("#photo", str(faceless))
            await page.wait_for_function(
                "document.querySelector('#banner .msg').textContent.includes('cannot be')",
                timeout=30_000,
            )
            footer = await page.eval_on_selector("footer", "e => e.getBoundingClientRect().bottom")
            banner = await page.eval_on_selector("#banner", "e => e.getBoundingClientRect().bottom")
            stage = await page.eval_on_selector(
                ".stage", "e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; }"
            )
            assert footer <= 800 and banner < stage[0] + 0.4 * (stage[1] - stage[0]), (
                footer,
                banner,
                stage,
            )
            # During the call the note goes; after it, the face at rest again, no old captions.
            await page.click("#connect")
            await page.wait_for_function(
                "document.querySelector('#state').dataset.kind === 'ready'", timeout=60_000
            )
            assert await page.is_hidden("#stage-note")
            await page.wait_for_function(
                "document.querySelector('#captions').textContent.includes('Avatar:')",
                timeout=30_000,
            )
            await hang_up(page)
            assert "The call ended" in (await page.text_content("#stage-note") or "")
            assert await page.is_visible("#stage-note")
            assert (await page.text_content("#captions") or "") == ""
            assert await page.evaluate("document.querySelector('#avatar').srcObject === null")
            await page.screenshot(path=str(artifacts(tmp_path) / "ended-1280x800.png"))
            # A phone: the face spans the width, the captions go under it.
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.wait_for_timeout(300)
            screen = await page.eval_on_selector(
                ".screen",
                "e => { const r = e.getBoundingClientRect(); return [r.width, r.bottom]; }",
            )
            captions_top = await page.eval_on_selector(
                "#captions", "e => e.getBoundingClientRect().top"
            )
            assert screen[0] >= 380 and captions_top >= screen[1] - 1, (screen, captions_top)
            await page.screenshot(path=str(artifacts(tmp_path) / "phone-390x844.png"))
        finally:
            await browser.close()
    assert not page_errors, page_errors


async def test_page_behind_a_host_rewriting_proxy_with_trusted_proxy(
    fake_ollama: ThreadedFakeOllama, tmp_path: Path
) -> None:
    """The page opened through a proxy that rewrites Host (nginx's default) connects a call
    when the server trusts the proxy: /start and the offer go through it, media direct."""
    from playwright.async_api import async_playwright

    from localagent.testing.app_process import run_app
    from localagent.testing.reverse_proxy import ThreadedReverseProxy

    flags = ("--ollama-host", fake_ollama.url, "--avatar", "local", "--trusted-proxy", "127.0.0.1")
    with run_app(*flags) as app, ThreadedReverseProxy(app.url) as proxy:
        assert proxy.url != app.url
        async with async_playwright() as pw:
            browser = await launch_chromium(pw)
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                signalling: list[str] = []
                page.on("request", lambda r: r.method == "POST" and signalling.append(r.url))
                await page.goto(proxy.url + "/")
                await page.click("#connect")
                await page.wait_for_function(
                    "document.querySelector('#state').dataset.kind === 'ready'", timeout=60_000
                )
                assert signalling and all(u.startswith(proxy.url) for u in signalling)
                assert any(u.endswith("/start") for u in signalling), signalling
                await hang_up(page)
            finally:
                await browser.close()
        assert not [line for line in app.lines if "refused (" in line], app.output
