"""A portrait in real calls: the photo's face reaches the caller over WebRTC, from the local
avatar and from the (fake) Tavus replica, and the page can choose the photo.

The face is scikit-image's NASA portrait (public domain), test data only.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from localagent.avatar.face import Face
from localagent.avatar.landmarks import load_portrait
from localagent.avatar.portrait import Portrait
from localagent.testing.app_process import fetch_status, run_app
from localagent.testing.caller import Caller
from localagent.testing.fake_ollama import ThreadedFakeOllama
from localagent.testing.mock_tavus import ThreadedMockTavus
from localagent.testing.portraits import astronaut, no_face


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return astronaut(tmp_path_factory.mktemp("portrait"))


def looks_like(seen: np.ndarray, picture: np.ndarray) -> float:
    """Mean absolute difference of the two at 160x90: small for the same face."""
    a = cv2.resize(seen, (160, 90), interpolation=cv2.INTER_AREA).astype(float)
    b = cv2.resize(picture, (160, 90), interpolation=cv2.INTER_AREA).astype(float)
    return float(np.abs(a - b).mean())


def references(photo: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    still = Portrait(*load_portrait(photo), *size).frame
    drawn = np.frombuffer(Face(*size).render(0, 0, 0, 0), np.uint8).reshape(size[1], size[0], 3)
    return still, drawn


async def test_a_call_with_avatar_image_shows_the_photo_talking(
    fake_ollama: ThreadedFakeOllama, photo: Path, tmp_path: Path
) -> None:
    flags = ("--ollama-host", fake_ollama.url, "--avatar", "local", "--avatar-image", str(photo))
    with run_app(*flags, env={"LOCALAGENT_DATA_DIR": str(tmp_path / "data")}) as app:
        assert app.url, app.output
        assert fetch_status(app.url)["avatar_face"]["face"] == "portrait"
        async with Caller(app.url) as caller:
            talking = await caller.wait_for_voice(since=0.0, timeout=60)  # the greeting
            await asyncio.sleep(1.0)
            seen = caller.last_video
            # New pictures while it speaks; a loaded machine sends fewer a second (12 in the
            # first second on one run with other tests beside it), so give it the greeting.
            for _ in range(30):
                moving = sum(t >= talking for t in caller.video_times)
                if moving > 15:
                    break
                await asyncio.sleep(0.1)
    assert seen is not None and caller.video_size == (1280, 720)
    still, drawn = references(photo, (1280, 720))
    assert looks_like(seen, still) < 12 < looks_like(seen, drawn) - 20
    assert moving > 15  # it talks: new pictures while it speaks


async def test_the_tavus_replica_can_be_a_real_face(
    fake_ollama: ThreadedFakeOllama, photo: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with ThreadedMockTavus(api_key="k") as tavus:
        env = {
            "TAVUS_API_KEY": "k",
            "TAVUS_REPLICA_ID": "r-test-replica",
            "TAVUS_API_URL": tavus.url,
            "LOCALAGENT_DATA_DIR": str(data),
            "LOCALAGENT_FAKE_DAILY_PORTRAIT": str(photo),
        }
        with run_app("--ollama-host", fake_ollama.url, env=env, fake_daily=True) as app:
            async with Caller(app.url) as caller:
                await caller.wait_for_voice(since=0.0, timeout=60)  # the replica's voice
                await asyncio.sleep(0.5)
                seen = caller.last_video
        assert tavus.server.open_conversations == []
    assert seen is not None and caller.video_size == (640, 360)
    still, drawn = references(photo, (640, 360))
    assert looks_like(seen, still) < 12 < looks_like(seen, drawn) - 20


@pytest.fixture
def bare_app(fake_ollama: ThreadedFakeOllama, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = tmp_path / "data"
    flags = ("--ollama-host", fake_ollama.url, "--avatar", "local")
    with run_app(*flags, env={"LOCALAGENT_DATA_DIR": str(data)}) as app:
        assert app.url, app.output
        yield app.url, data


def _send(url: str, method: str, body: bytes | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url + "/api/avatar-image", data=body, method=method, headers={"Content-Type": "image/png"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_the_page_api_keeps_a_photo_refuses_a_faceless_one_and_forgets(
    bare_app: tuple[str, Path], photo: Path, tmp_path: Path
) -> None:
    url, data = bare_app
    assert fetch_status(url)["avatar_face"] == {"face": "drawn", "problem": None}
    status, body = _send(url, "POST", no_face(tmp_path).read_bytes())
    assert (
        status == 422 and "No frontal face" in str(body["detail"]) and "Fix:" in str(body["detail"])
    )
    status, body = _send(url, "POST", b"")
    assert status == 400
    status, body = _send(url, "POST", photo.read_bytes())
    assert status == 200 and body["face"] == "portrait" and body["chosen_on_page"] is True
    assert (data / "avatar" / "portrait.png").read_bytes() == photo.read_bytes()
    assert fetch_status(url)["avatar_face"]["face"] == "portrait"
    status, body = _send(url, "DELETE")
    assert status == 200 and body["face"] == "drawn"
    assert not (data / "avatar" / "portrait.png").exists()


def test_a_photo_with_no_face_leaves_the_drawn_face_and_says_why(
    fake_ollama: ThreadedFakeOllama, tmp_path: Path
) -> None:
    faceless = no_face(tmp_path)
    flags = ("--ollama-host", fake_ollama.url, "--avatar", "local", "--avatar-image", str(faceless))
    with run_app(*flags, env={"LOCALAGENT_DATA_DIR": str(tmp_path / "data")}) as app:
        assert app.url, app.output
        face = fetch_status(app.url)["avatar_face"]
    assert face["face"] == "drawn" and "No frontal face" in face["problem"]
    assert "looks into the camera" in face["fix"]
    assert any("the drawn face stands in: No frontal face" in line for line in app.lines)
