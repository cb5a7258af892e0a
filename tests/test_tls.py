"""HTTPS for LAN use: a certificate given, or a self-signed one made under the data dir."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from test_page import hang_up

from localagent.errors import ConfigError
from localagent.testing.app_process import run_app
from localagent.testing.browser import launch_chromium
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.web.tls import tls_files


def test_loopback_stays_plain_http_and_beyond_it_a_certificate_is_made_once(
    tmp_path: Path,
) -> None:
    assert tls_files(None, None, bind_host="127.0.0.1", loopback=True, data_dir=tmp_path) is None
    made = tls_files(None, None, bind_host="0.0.0.0", loopback=False, data_dir=tmp_path)
    assert made is not None and made.self_signed
    assert made.cert == tmp_path / "tls" / "cert.pem"
    assert stat.S_IMODE(made.key.stat().st_mode) == 0o600
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", made.fingerprint)
    again = tls_files(None, None, bind_host="0.0.0.0", loopback=False, data_dir=tmp_path)
    assert again is not None and again.fingerprint == made.fingerprint  # kept across runs
    # Given ones are used as they are, on loopback too.
    given = tls_files(made.cert, made.key, bind_host="127.0.0.1", loopback=True, data_dir=tmp_path)
    assert given is not None and not given.self_signed and given.fingerprint == made.fingerprint


def test_a_wrong_certificate_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="go together"):
        tls_files(tmp_path / "c.pem", None, bind_host="::", loopback=False, data_dir=tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        tls_files(
            tmp_path / "c.pem",
            tmp_path / "k.pem",
            bind_host="::",
            loopback=False,
            data_dir=tmp_path,
        )
    (tmp_path / "c.pem").write_text("not a certificate")
    (tmp_path / "k.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="not a PEM certificate"):
        tls_files(
            tmp_path / "c.pem",
            tmp_path / "k.pem",
            bind_host="::",
            loopback=False,
            data_dir=tmp_path,
        )


async def test_an_https_page_on_a_lan_bind_gets_the_microphone(
    fake_ollama: ThreadedFakeOllama, tmp_path: Path
) -> None:
    """Bound beyond loopback (0.0.0.0; the browser still reaches it over loopback, by a name
    that is not localhost): HTTPS with the self-signed certificate, the token required,
    and the page a secure context, so Chromium gives it the microphone and the call runs."""
    from playwright.async_api import async_playwright

    flags = ("--host", "0.0.0.0", "--ollama-host", fake_ollama.url, "--avatar", "local")
    with run_app(*flags) as app:
        assert app.url.startswith("https://0.0.0.0:"), app.output
        assert "SHA-256 fingerprint" in app.output
        port, token = re.search(r":(\d+)/\?token=(\S+)", app.url).groups()  # type: ignore[union-attr]
        async with async_playwright() as pw:
            browser = await launch_chromium(
                pw, extra=("--host-resolver-rules=MAP lan.test 127.0.0.1",)
            )
            try:
                context = await browser.new_context(ignore_https_errors=True)
                page = await context.new_page()
                # Without the token: refused.
                response = await page.goto(f"https://lan.test:{port}/")
                assert response is not None and response.status == 401
                await page.goto(f"https://lan.test:{port}/?token={token}")
                assert await page.evaluate("window.isSecureContext") is True
                assert await page.evaluate("!!navigator.mediaDevices?.getUserMedia")
                await page.click("#connect")
                await page.wait_for_function(
                    "document.querySelector('#state').dataset.kind === 'ready'", timeout=60_000
                )
                await hang_up(page)
            finally:
                await browser.close()
