"""Front ends on other origins, and reverse proxies that rewrite Host (--allow-origin,
--trusted-proxy): over real HTTP on loopback, through a proxy that behaves like nginx."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from localagent.settings import Settings
from localagent.testing.app_process import AppProcess, run_app
from localagent.testing.cli import free_port
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.reverse_proxy import ThreadedReverseProxy

FRONT_END = "http://localhost:5173"
# Read at import: the fixtures clear LOCALAGENT_* before each test. CI sets it.
REQUIRE_NGINX = bool(os.environ.get("LOCALAGENT_REQUIRE_NGINX"))


def _call(
    url: str, method: str = "POST", headers: dict[str, str] | None = None
) -> tuple[int, Any, Any]:
    body = b"{}" if method in ("POST", "PATCH") else None
    request = urllib.request.Request(
        url,
        data=body,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            text = r.read()
            json_body = r.headers.get("content-type", "").startswith("application/json")
            return r.status, json.loads(text) if json_body else text, r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.load(e), e.headers


def _page(origin: str) -> dict[str, str]:
    """What Chromium sends with a page's fetch from `origin` (same-site or not)."""
    return {"Origin": origin, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}


def _refusals(app: AppProcess) -> list[str]:
    return [line for line in app.lines if "refused (" in line]


@pytest.mark.parametrize("style", ["x-forwarded", "forwarded"])
def test_a_host_rewriting_proxy_works_with_trusted_proxy_and_is_refused_without(
    fake_ollama: ThreadedFakeOllama, style: str
) -> None:
    flags = ("--ollama-host", fake_ollama.url, "--avatar", "local")
    with run_app(*flags) as app, ThreadedReverseProxy(app.url, style=style) as proxy:
        page = _page(proxy.url)
        # The page itself loads (a GET has no Origin), but its API calls look
        # cross-origin: the Host the proxy sent is the upstream's.
        status, _, _ = _call(proxy.url + "/", "GET")
        assert status == 200
        for _ in range(2):
            status, answer, _ = _call(proxy.url + "/start", headers=page)
            assert status == 403 and "--trusted-proxy" in answer["detail"], answer
        refusals = _refusals(app)
        assert len(refusals) == 1 and "--trusted-proxy" in refusals[0], refusals  # once
    with (
        run_app(*flags, "--trusted-proxy", "127.0.0.1") as app,
        ThreadedReverseProxy(app.url, style=style) as proxy,
    ):
        status, answer, _ = _call(proxy.url + "/start", headers=_page(proxy.url))
        assert status == 200 and "sessionId" in answer, answer
        # Still refused: a page on another origin, through the trusted proxy.
        status, answer, _ = _call(proxy.url + "/start", headers=_page("http://evil.example"))
        assert status == 403 and "--allow-origin http://evil.example" in answer["detail"]


def test_forwarded_headers_from_an_untrusted_client_are_ignored(app: AppProcess) -> None:
    status, answer, _ = _call(
        app.url + "/api/status",
        "GET",
        headers={"Host": "evil.example", "X-Forwarded-Host": app.url.split("//")[1]},
    )
    assert status == 403 and "Host 'evil.example' is not this machine" in answer["detail"]
    assert "--trusted-proxy" in answer["detail"]  # the hint, since it looks proxied


def test_an_allowed_origin_gets_cors_and_others_are_refused_with_a_logged_reason(
    fake_ollama: ThreadedFakeOllama,
) -> None:
    flags = ("--ollama-host", fake_ollama.url, "--avatar", "local", "--allow-origin", FRONT_END)
    with run_app(*flags) as app:
        preflight = {
            "Origin": FRONT_END,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
        status, _, headers = _call(app.url + "/start", "OPTIONS", headers=preflight)
        assert status == 204
        assert headers["Access-Control-Allow-Origin"] == FRONT_END
        assert "POST" in headers["Access-Control-Allow-Methods"]
        assert headers["Access-Control-Allow-Headers"] == "content-type"
        cross = {"Origin": FRONT_END, "Sec-Fetch-Site": "same-site"}
        status, answer, headers = _call(app.url + "/start", headers=cross)
        assert status == 200 and "sessionId" in answer
        assert headers["Access-Control-Allow-Origin"] == FRONT_END
        assert headers["Access-Control-Allow-Credentials"] == "true"
        # Any other origin: no CORS, refused, and said once in the log with the fix.
        other = "http://localhost:9999"
        for _ in range(3):
            status, answer, headers = _call(
                app.url + "/start", "OPTIONS", headers={**preflight, "Origin": other}
            )
            assert status == 403 and "Access-Control-Allow-Origin" not in headers
        status, answer, headers = _call(app.url + "/start", headers={"Origin": other})
        assert status == 403 and "Access-Control-Allow-Origin" not in headers
        refusals = _refusals(app)
        assert len(refusals) == 1, refusals
        assert f"start localagent with --allow-origin {other}" in refusals[0]


def test_origins_and_proxies_are_checked_settings() -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        Settings(allow_origin=["localhost:3000"])
    with pytest.raises(ValueError, match="not an IP address or network"):
        Settings(trusted_proxy=["proxy.example"])
    settings = Settings(allow_origin="http://LOCALHOST:3000/, https://app.example")
    assert settings.allow_origin == ["http://localhost:3000", "https://app.example"]


def _readme_nginx_location() -> str:
    """The `location / {...}` block of the docs' nginx example, as written there."""
    readme = (Path(__file__).parent.parent / "docs" / "security.md").read_text()
    block = readme.split("```nginx\n", 1)[1].split("```", 1)[0]
    start = block.index("    location / {")
    return block[start : block.index("    }\n", start) + 6]


def test_behind_nginx_with_the_readme_config(
    fake_ollama: ThreadedFakeOllama, tmp_path: Path
) -> None:
    """The nginx config of docs/security.md, run by real nginx (plain HTTP on loopback)."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        if REQUIRE_NGINX:
            pytest.fail("nginx is required here (apt-get install nginx-light)")
        pytest.skip("nginx is not installed")
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    flags = ("--ollama-host", fake_ollama.url, "--avatar", "local")
    for trusted, expected in (((), 403), (("--trusted-proxy", "127.0.0.1"), 200)):
        with run_app(*flags, *trusted) as app:
            upstream = app.url.split("//", 1)[1].rstrip("/")
            location = _readme_nginx_location().replace("127.0.0.1:7860", upstream)
            conf = tmp_path / "nginx.conf"
            conf.write_text(
                f"{user}daemon off; worker_processes 1; pid {tmp_path}/nginx.pid;\n"
                f"error_log {tmp_path}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n"
                f"  client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;\n"
                f"  server {{\n    listen 127.0.0.1:{port};\n{location}  }}\n}}\n"
            )
            proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(conf)])
            try:
                base = f"http://127.0.0.1:{port}"
                for _ in range(100):
                    try:
                        urllib.request.urlopen(base + "/", timeout=2).read()
                        break
                    except OSError:
                        time.sleep(0.1)
                status, answer, _ = _call(base + "/start", headers=_page(base))
                assert status == expected, (trusted, answer, (tmp_path / "error.log").read_text())
                if expected == 403:
                    assert "--trusted-proxy" in answer["detail"]
            finally:
                proc.terminate()
                proc.wait(10)
