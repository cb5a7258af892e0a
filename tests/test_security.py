"""Server hardening over real HTTP: Host and Origin checks, the token, limits, fuzzing."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localagent.testing.app_process import AppProcess, run_app
from localagent.testing.caller import Caller, vanished_offer
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.web.guard import is_loopback_host


def request(
    url: str,
    method: str = "GET",
    path: str = "/",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    """One raw HTTP request, so tests control every header (Host included)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host="host" in {k.lower() for k in headers or {}})
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None and not any(k.lower() == "content-length" for k in headers or {}):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode()
    finally:
        conn.close()


JSON = {"Content-Type": "application/json"}


def test_loopback_names() -> None:
    assert all(
        map(is_loopback_host, ["127.0.0.1", "localhost", "[::1]", "127.9.9.9", "a.localhost"])
    )
    assert not any(map(is_loopback_host, ["0.0.0.0", "192.168.1.4", "evil.example", "::"]))


def test_dns_rebinding_host_is_refused(app: AppProcess) -> None:
    port = urlsplit(app.url).port
    for host in ("evil.example", f"evil.example:{port}", "192.168.1.20"):
        status, _, body = request(app.url, headers={"Host": host})
        assert status == 403, host
        assert "is not this machine" in body
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert request(app.url, headers={"Host": host})[0] == 200, host


def test_cross_origin_requests_are_refused(app: AppProcess) -> None:
    offer = json.dumps({"sdp": "v=0", "type": "offer"}).encode()
    status, _, body = request(
        app.url, "POST", "/api/offer", offer, {**JSON, "Origin": "https://evil.example"}
    )
    assert status == 403 and "Cross-origin" in body
    status, _, _ = request(app.url, "POST", "/api/offer", offer, {**JSON, "Origin": "null"})
    assert status == 403
    status, _, _ = request(app.url, headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403
    # the page's own requests are same-origin and pass (then fail on the fake SDP: 400)
    same = f"http://{urlsplit(app.url).netloc}"
    status, _, _ = request(app.url, "POST", "/api/offer", offer, {**JSON, "Origin": same})
    assert status == 400


def test_body_limits_and_content_types(app: AppProcess) -> None:
    offer = json.dumps({"sdp": "v=0", "type": "offer"}).encode()
    status, _, body = request(app.url, "POST", "/api/offer", offer, {"Content-Type": "text/plain"})
    assert status == 415 and "application/json" in body
    big = b'{"sdp": "' + b"a" * 300_000 + b'", "type": "offer"}'
    assert request(app.url, "POST", "/api/offer", big, JSON)[0] == 413
    # A body without a length (chunked) is refused rather than read without bound.
    parts = urlsplit(app.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    conn.request("POST", "/api/offer", body=iter([offer]), headers={**JSON}, encode_chunked=True)
    assert conn.getresponse().status == 411
    conn.close()
    assert request(app.url, path="/api/status")[0] == 200


@pytest.fixture
def token_app(fake_ollama: ThreadedFakeOllama) -> Iterator[AppProcess]:
    with run_app("--ollama-host", fake_ollama.url, "--require-token") as proc:
        assert proc.url, proc.output
        yield proc


async def test_token_is_required_and_travels_as_a_cookie(token_app: AppProcess) -> None:
    printed = urlsplit(token_app.url)
    token = printed.query.removeprefix("token=")
    assert len(token) >= 20, token_app.url
    base = f"http://{printed.netloc}"
    for path in ("/", "/api/status", "/static/app.js", "/?token=wrong"):
        status, _, body = request(base, path=path)
        assert status == 401, path
        assert "open the full URL localagent printed" in body
    status, headers, _ = request(base, path=f"/?token={token}")
    assert status == 200
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    cookie_value = cookie.split(";")[0]
    assert request(base, path="/api/status", headers={"Cookie": cookie_value})[0] == 200
    bearer = {"Authorization": f"Bearer {token}"}
    assert request(base, path="/api/status", headers=bearer)[0] == 200
    # A real call through the printed URL works.
    async with Caller(token_app.url) as caller:
        await caller.wait_for_voice(since=0.0, timeout=60)


async def _sessions_once(
    app: AppProcess, ready: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
) -> list[dict[str, Any]]:
    """`/api/status`'s sessions once `ready` holds for them, or as they are at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        _, _, body = request(app.url, path="/api/status")
        sessions: list[dict[str, Any]] = json.loads(body)["sessions"]
        if ready(sessions) or time.monotonic() > deadline:
            return sessions
        await asyncio.sleep(0.1)


async def test_one_call_at_a_time_by_default(fake_ollama: ThreadedFakeOllama) -> None:
    with run_app("--ollama-host", fake_ollama.url) as app:
        async with Caller(app.url, tab="tab-a") as first:
            await first.wait_for_voice(since=0.0, timeout=60)
            with pytest.raises(RuntimeError, match="HTTP 429.*LOCALAGENT_MAX_SESSIONS=1"):
                async with Caller(app.url, tab="tab-b"):
                    pass
            # The same page calling again (a reload) replaces its old call at once.
            async with Caller(app.url, tab="tab-a") as reloaded:
                await reloaded.wait_for_voice(since=0.0, timeout=60)
                sessions = await _sessions_once(
                    app, lambda s: len(s) == 1 and first.connection_state in ("closed", "failed")
                )
                assert [s["ending"] for s in sessions] == [False], sessions
                assert first.connection_state in ("closed", "failed")
                with pytest.raises(RuntimeError, match="HTTP 429"):
                    async with Caller(app.url):  # no tab id: never replaces anything
                        pass
        # once the first call has hung up, a new one is accepted
        await _sessions_once(app, lambda s: not s)
        async with Caller(app.url) as again:
            await again.wait_for_voice(since=0.0, timeout=60)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_sdp_lines = st.lists(
    st.sampled_from(
        [
            "v=0",
            "o=- 1 1 IN IP4 0.0.0.0",
            "s=-",
            "t=0 0",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "m=video 0 RTP/AVP 96",
            "a=rtpmap:111 opus/48000/2",
            "c=IN IP4 0.0.0.0",
            "a=fingerprint:sha-256 00",
            "a=ice-ufrag:x",
            "a=setup:actpass",
            "a=mid:0",
            "\x00",
            "m=",
        ]
    )
    | st.text(max_size=30),
    max_size=12,
).map("\r\n".join)
_offers = st.fixed_dictionaries(
    {"sdp": _sdp_lines, "type": st.sampled_from(["offer", "answer", "", "rollback"])},
    optional={"pc_id": st.text(max_size=10) | st.none(), "restart_pc": _json_values},
)
_patches = st.fixed_dictionaries(
    {"pc_id": st.text(max_size=10) | _json_values, "candidates": st.lists(_json_values, max_size=3)}
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(_offers, _json_values, _patches), method=st.sampled_from(["POST", "PATCH"]))
def test_fuzzed_signalling_never_errors(app: AppProcess, body: Any, method: str) -> None:
    status, _, text = request(app.url, method, "/api/offer", json.dumps(body).encode(), JSON)
    assert 400 <= status < 500, (status, body, text)


def test_server_is_healthy_after_fuzzing(app: AppProcess) -> None:
    status, _, body = request(app.url, path="/api/status")
    assert status == 200
    assert json.loads(body)["sessions"] == []


_raw_bodies = st.one_of(
    st.binary(max_size=200),  # not UTF-8, not JSON
    st.sampled_from(
        [
            b'{"sdp": NaN, "type": "offer"}',
            b'{"sdp": Infinity, "type": "offer"}',
            b'{"sdp": "v=0\\ud800", "type": "offer"}',
            b'{"sdp": "v=0", "type": "\\udfff"}',
            b'{"pc_id": "\\ud83d", "candidates": []}',
            b"[" * 3000 + b"]" * 3000,
            b'{"sdp": ' * 500 + b"1" + b"}" * 500,
        ]
    ),
    st.text(max_size=60).map(
        lambda t: json.dumps({"sdp": "v=0\r\n" + t, "type": "offer"}).encode()
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_raw_bodies, method=st.sampled_from(["POST", "PATCH"]))
def test_fuzzed_raw_bodies_never_error(app: AppProcess, body: bytes, method: str) -> None:
    status, _, text = request(app.url, method, "/api/offer", body, JSON)
    assert 400 <= status < 500, (status, body[:80], text)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(token=st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=30))
def test_any_offered_token_is_a_401_never_a_500(token_app: AppProcess, token: str) -> None:
    """Non-ASCII tokens used to reach hmac.compare_digest as str: a 500."""
    base = f"http://{urlsplit(token_app.url).netloc}"
    quoted = urllib.parse.quote(token, safe="")
    latin = token.encode("utf-8").decode("latin-1")  # what a client can put in a header
    for path, headers in (
        (f"/api/status?token={quoted}", {}),
        ("/api/status", {"Authorization": f"Bearer {latin}"}),
        ("/api/status", {"Cookie": f"localagent_token={latin}"}),
    ):
        status, _, _ = request(base, path=path, headers=headers)
        assert status == 401, (token, path, headers, status)


def test_an_offer_without_a_dtls_fingerprint_is_refused(app: AppProcess) -> None:
    sdp = asyncio.run(vanished_offer())
    stripped = "\r\n".join(line for line in sdp.split("\r\n") if "a=fingerprint" not in line)
    body = json.dumps({"sdp": stripped, "type": "offer"}).encode()
    status, _, text = request(app.url, "POST", "/api/offer", body, JSON)
    assert status == 400 and "DTLS fingerprint" in text
    assert (
        request(
            app.url, "POST", "/api/offer", json.dumps({"sdp": sdp, "type": "offer"}).encode(), JSON
        )[0]
        == 200
    )


def test_idle_dribbling_and_endless_requests_are_closed(fake_ollama: ThreadedFakeOllama) -> None:
    timeout_s = 2.0
    env = {"LOCALAGENT_HTTP_REQUEST_TIMEOUT": str(timeout_s)}
    with run_app("--ollama-host", fake_ollama.url, env=env) as app:
        parts = urlsplit(app.url)
        address = (parts.hostname or "", parts.port or 0)
        socks = [socket.create_connection(address, timeout=10) for _ in range(60)]
        try:
            for s in socks[20:40]:  # headers a byte at a time, never finished
                s.sendall(b"GET /api/status HTTP/1.1\r\nHo")
            for s in socks[40:]:  # a body promised and never sent
                s.sendall(
                    b"POST /api/offer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
                )
            t0 = time.monotonic()
            deadline = t0 + timeout_s + 8
            open_ = set(range(len(socks)))
            while open_ and time.monotonic() < deadline:
                for i in list(open_):
                    socks[i].settimeout(0.05)
                    try:
                        if socks[i].recv(4096) == b"":
                            open_.discard(i)
                    except TimeoutError:
                        pass
                    except OSError:
                        open_.discard(i)
                time.sleep(0.1)
            print(f"\n60 slow sockets closed by the server in {time.monotonic() - t0:.1f} s")
            assert not open_, f"{len(open_)} of 60 still open"
            # A normal request is still answered, keep-alive and all.
            status, _, _ = request(app.url, path="/api/status")
            assert status == 200
        finally:
            for s in socks:
                s.close()
