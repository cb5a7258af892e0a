"""pipecat's runner session start (`/start`, `/sessions/{id}/api/offer`) on localagent."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from localagent.testing.app_process import AppProcess
from localagent.web.runner_routes import StartedSessions


def _call(
    url: str, method: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_start_answers_as_pipecats_runner_does(app: AppProcess) -> None:
    status, answer = _call(
        app.url + "/start",
        "POST",
        {"transport": "webrtc", "enableDefaultIceServers": True, "body": {"tab": "t1"}},
    )
    assert status == 200 and set(answer) == {"sessionId"}, answer  # no Google STUN handed out
    assert re.fullmatch(r"[0-9a-f-]{36}", answer["sessionId"])
    # No transport named: webrtc, as the runner's default.
    status, answer = _call(app.url + "/start", "POST", {})
    assert status == 200 and "sessionId" in answer
    assert _call(app.url + "/status", "GET") == (200, {"status": "ready", "transports": ["webrtc"]})


def test_start_refuses_what_it_cannot_serve(app: AppProcess) -> None:
    status, answer = _call(app.url + "/start", "POST", {"transport": "daily"})
    assert status == 400 and "'webrtc' only" in answer["detail"]
    offer = {"sdp": "v=0\r\n", "type": "offer"}
    for method, body in (("POST", offer), ("PATCH", {"pc_id": "x", "candidates": []})):
        status, answer = _call(app.url + "/sessions/no-such-session/api/offer", method, body)
        assert (status, answer["detail"]) == (404, "Invalid or not-yet-ready session_id")
    # A known session still gets localagent's own checks of the offer.
    _, started = _call(app.url + "/start", "POST", {"body": {}})
    status, answer = _call(app.url + f"/sessions/{started['sessionId']}/api/offer", "POST", offer)
    assert status == 400 and "Malformed SDP offer" in answer["detail"], answer
    # And the same guard: another origin is refused before anything starts.
    status, answer = _call(
        app.url + "/start", "POST", {}, headers={"Origin": "http://evil.example"}
    )
    assert status == 403 and "Cross-origin" in answer["detail"]


def test_started_sessions_expire_unused_and_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    sessions = StartedSessions(ttl_s=60, limit=3)
    first = sessions.start({"tab": "a"})
    assert sessions.body(first) == {"tab": "a"}
    now[0] += 50
    assert sessions.body(first) == {"tab": "a"}  # used: kept alive
    now[0] += 50
    assert sessions.body(first) == {"tab": "a"}
    now[0] += 61
    assert sessions.body(first) is None  # unused for longer than its TTL
    ids = [sessions.start(None) for _ in range(4)]
    assert len(sessions) == 3 and sessions.body(ids[0]) is None and sessions.body(ids[3]) == {}
