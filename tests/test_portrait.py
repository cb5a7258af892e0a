"""The portrait avatar: landmarks found once and cached, a face that moves only where it
should, a mouth measured from the pictures, and the drawn face when a photo cannot be used.

The face is scikit-image's NASA portrait (public domain), test data only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pipecat.frames.frames import (
    Frame,
    InterruptionFrame,
    OutputImageRawFrame,
    TTSAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.tests.utils import SleepFrame, run_test

from localagent.avatar import landmarks as landmarks_module
from localagent.avatar.landmarks import PortraitError, cache_path, load_portrait
from localagent.avatar.local import LocalAvatar
from localagent.avatar.motion import Motion
from localagent.avatar.portrait import JAW_OPEN, Portrait
from localagent.avatar.portraits import Portraits
from localagent.avatar.pose import Pose
from localagent.testing.face_meter import FaceMeter, face_ssim, lag_ms, tick_loudness
from localagent.testing.frames import FrameLog
from localagent.testing.portraits import astronaut, no_face
from localagent.testing.speech import synthesize

W, H, FPS, RATE = 640, 360, 25, 24000


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("portrait")
    astronaut(folder)
    return folder


@pytest.fixture(scope="module")
def portrait(photo_dir: Path) -> Portrait:
    photo, marks = load_portrait(photo_dir / "astronaut.png")
    return Portrait(photo, marks, W, H)


def frame_of(image: bytes, size: tuple[int, int] = (W, H)) -> np.ndarray:
    return np.frombuffer(image, np.uint8).reshape(size[1], size[0], 3)


def meter(p: Portrait) -> FaceMeter:
    return FaceMeter(p.frame, p.points, search_px=int(JAW_OPEN * p.face_width) + 8)


def test_the_astronauts_landmarks_are_found_once_and_then_read_from_beside_the_photo(
    photo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = photo_dir / "astronaut.png"
    _, marks = load_portrait(photo)
    p = marks.points
    assert p.shape == (68, 2) and 80 < marks.face_width < 110  # a 512 px NASA portrait
    eyes, nose, mouth, chin = p[36:48, 1].mean(), p[30, 1], p[48:68, 1].mean(), p[8, 1]
    assert eyes < nose < mouth < chin
    assert p[36:42, 0].mean() < p[27, 0] < p[42:48, 0].mean()  # eyes either side of the nose
    assert cache_path(photo).exists()

    def no_finding(_rgb: np.ndarray) -> None:
        raise AssertionError("the landmarks were searched for again")

    monkeypatch.setattr(landmarks_module, "find_landmarks", no_finding)
    _, again = load_portrait(photo)
    assert np.allclose(again.points, p, atol=0.01)
    # Another photo under the same name is not taken for the cached one.
    changed = photo_dir / "changed.png"
    changed.write_bytes(photo.read_bytes() + b"\0")
    cache_path(changed).write_text(cache_path(photo).read_text())
    with pytest.raises(AssertionError, match="searched for again"):
        load_portrait(changed)


def test_a_landmarks_file_stands_in_for_the_missing_face_finder(
    photo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_portrait(photo_dir / "astronaut.png")
    monkeypatch.setattr(landmarks_module, "landmarker_missing", lambda: "dlib is not installed")
    _, marks = load_portrait(photo_dir / "astronaut.png")  # the cache is enough
    assert marks.points.shape == (68, 2)
    fresh = astronaut(tmp_path)
    with pytest.raises(PortraitError) as e:
        load_portrait(fresh)
    assert "dlib is not installed" in e.value.message and "[portrait]" in e.value.fix


@pytest.mark.parametrize("kind", ["no face", "not a picture", "missing"])
def test_a_photo_that_cannot_be_a_portrait_says_why(kind: str, tmp_path: Path) -> None:
    if kind == "no face":
        path, expected = no_face(tmp_path), "No frontal face"
    elif kind == "not a picture":
        path, expected = tmp_path / "notes.jpg", "not a picture"
        path.write_text("hello")
    else:
        path, expected = tmp_path / "gone.jpg", "cannot be read"
    with pytest.raises(PortraitError, match=expected) as e:
        load_portrait(path)
    assert e.value.fix


def test_the_drawn_face_stands_in_when_the_photo_has_no_face(tmp_path: Path) -> None:
    portraits = Portraits(tmp_path / "data", no_face(tmp_path))
    portraits.load()
    assert portraits.current is None and portraits.face(W, H) is None
    described = portraits.describe()
    assert described["face"] == "drawn" and "No frontal face" in str(described["problem"])
    assert "looks into the camera" in str(described["fix"])


def test_a_photo_chosen_on_the_page_is_kept_in_the_data_dir_and_a_bad_one_changes_nothing(
    photo_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    portraits = Portraits(data, None)
    portraits.load()
    assert portraits.current is None
    portraits.choose((photo_dir / "astronaut.png").read_bytes())
    kept = data / "avatar" / "portrait.png"
    assert portraits.current is not None and portraits.current.path == kept
    assert cache_path(kept).exists()
    with pytest.raises(PortraitError, match="No frontal face"):
        portraits.choose(no_face(tmp_path).read_bytes())
    with pytest.raises(PortraitError, match="not a picture"):
        portraits.choose(b"GIF89a not really")
    assert portraits.current.path == kept and sorted(p.name for p in kept.parent.iterdir()) == [
        "portrait.png",
        "portrait.png.landmarks.json",
    ]
    later = Portraits(data, None)  # the next run starts with it
    later.load()
    assert later.current is not None and later.current.chosen_on_page
    later.forget()
    assert later.current is None and not kept.exists()


def test_at_rest_the_frame_is_the_photo_and_only_the_head_region_ever_changes(
    portrait: Portrait,
) -> None:
    still = frame_of(portrait.draw(Pose()))
    assert np.array_equal(still, portrait.frame)
    x0, y0, x1, y1 = portrait.box
    outside = np.ones(still.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    busy = Pose(jaw=1.0, spread=1.0, blink=1.0, gaze=1.0, brow=1.0, head_x=4, head_y=4, roll=0.03)
    moved = frame_of(portrait.draw(busy))
    assert np.array_equal(moved[outside], still[outside])
    # The head region's own border is the photo too: no seam where it is pasted back
    # (where the region is cut by the frame's edge, that edge is not a seam).
    edges = [
        (slice(y0, y0 + 1), slice(x0, x1), y0 > 0),
        (slice(y1 - 1, y1), slice(x0, x1), y1 < H),
        (slice(y0, y1), slice(x0, x0 + 1), x0 > 0),
        (slice(y0, y1), slice(x1 - 1, x1), x1 < W),
    ]
    inner = [(rows, cols) for rows, cols, inside in edges if inside]
    assert len(inner) >= 3
    for rows, cols in inner:
        assert np.abs(moved[rows, cols].astype(int) - still[rows, cols].astype(int)).max() <= 1


def test_idle_motion_keeps_the_face_its_own(portrait: Portrait) -> None:
    motion = Motion(FPS, portrait.face_width)
    raw, aligned = [], []
    for _ in range(FPS * 6):
        frame = frame_of(portrait.draw(motion.step(b"", RATE, listening=False)))
        as_drawn, held_still = face_ssim(portrait.frame, frame, portrait.points)
        raw.append(as_drawn)
        aligned.append(held_still)
    # The face is the photo's, moved a pixel or two: with the move undone, nearly the same.
    assert np.median(aligned) >= 0.95 and min(aligned) >= 0.9, (np.median(aligned), min(aligned))
    assert np.median(raw) >= 0.8, np.median(raw)
    assert len({round(s, 4) for s in raw}) > 10  # it moves: never a frozen photo


def test_the_jaw_opens_by_what_the_pose_asks_and_an_open_mouth_is_dark_inside(
    portrait: Portrait,
) -> None:
    m = meter(portrait)
    drop = JAW_OPEN * portrait.face_width
    for jaw in (0.0, 0.5, 1.0):
        for head in (0.0, 3.0):
            got = m.jaw_px(frame_of(portrait.draw(Pose(jaw=jaw, head_y=head, head_x=-head))))
            assert abs(got - jaw * drop) <= 1.5, (jaw, head, got)
    p = portrait.points
    cx, top = int(p[62, 0]), int((p[62, 1] + p[66, 1]) / 2)
    column = slice(cx - 3, cx + 4)
    rows = slice(top + 2, top + int(0.7 * drop))
    shut = frame_of(portrait.draw(Pose()))[rows, column].mean()
    wide = frame_of(portrait.draw(Pose(jaw=1.0)))[rows, column].mean()
    assert wide < 0.6 * shut, (wide, shut)  # the cavity, not stretched lips


def test_a_blink_brings_the_upper_lid_down_to_the_lower_one_and_leaves_the_mouth(
    photo_dir: Path,
) -> None:
    p = Portrait(*load_portrait(photo_dir / "astronaut.png"), W, H)
    still = p.frame.copy()
    closed = frame_of(p.draw(Pose(blink=1.0)))
    pts = p.points
    (mx0, my0), (mx1, my1) = pts[48:68].min(axis=0).astype(int), pts[48:68].max(axis=0).astype(int)
    assert np.array_equal(closed[my0:my1, mx0:mx1], still[my0:my1, mx0:mx1])
    # Which row of the photo each pixel shows: paint the rows' numbers in, warp, read back.
    rows = np.repeat(np.arange(H)[:, None], W, axis=1)
    p.frame = np.stack([rows % 256, rows // 256, rows * 0], axis=2).astype(np.uint8)
    p._last = None
    warped = frame_of(p.draw(Pose(blink=1.0))).astype(int)
    shown = warped[..., 0] + 256 * warped[..., 1]
    for eye in (pts[36:42], pts[42:48]):
        x = int(eye[[1, 2], 0].mean())
        upper, lower = eye[[1, 2], 1].mean(), eye[[4, 5], 1].mean()
        just_above_lower = int(lower) - 1
        # The lid's margin has come down over the eye: that pixel shows the upper lid.
        assert abs(shown[just_above_lower, x] - upper) <= 2, (shown[just_above_lower, x], upper)
        assert shown[int(lower) + 2, x] == int(lower) + 2  # below the lower lid: unmoved


async def test_the_portrait_speaks_in_sync_and_an_interruption_shuts_its_mouth_at_once(
    photo_dir: Path,
) -> None:
    photo, marks = load_portrait(photo_dir / "astronaut.png")
    face = Portrait(photo, marks, W, H)
    speech = synthesize("Hello! I can help you with your printer today.", rate=RATE)
    chunk = RATE // 10
    said: list[Frame] = [
        TTSAudioRawFrame(speech[i : i + chunk].tobytes(), RATE, 1, context_id="c")
        for i in range(0, len(speech), chunk)
    ]
    recorder = FrameLog()
    avatar = LocalAvatar(width=W, height=H, fps=FPS, face=face)
    await run_test(
        Pipeline([avatar, recorder]),
        frames_to_send=[
            *said,
            SleepFrame(sleep=len(speech) / RATE + 0.6),
            *said,
            SleepFrame(sleep=0.8),
            InterruptionFrame(),
            SleepFrame(sleep=0.4),
        ],
    )
    # Each tick pushes its audio, then its picture: pair them as the caller gets them.
    m = meter(face)
    interrupted_at = next(t for t, f in recorder.seen if isinstance(f, InterruptionFrame))
    ticks: list[tuple[bytes, float]] = []
    after: list[float] = []
    pending = b""
    for t, f in recorder.seen:
        if isinstance(f, TTSAudioRawFrame):
            pending = f.audio
        elif isinstance(f, OutputImageRawFrame):
            jaw = m.jaw_px(frame_of(f.image))
            if t < interrupted_at:
                ticks.append((pending, jaw))
            elif t > interrupted_at + 1.0 / FPS:  # one drawn before it may still be on its way
                after.append(jaw)
            pending = b""
    loud = tick_loudness([a for a, _ in ticks], RATE, FPS)
    opening = np.array([jaw for _, jaw in ticks])
    assert abs(lag_ms(loud, opening, FPS)) <= 40, lag_ms(loud, opening, FPS)
    assert np.corrcoef(loud, opening)[0, 1] > 0.5
    assert opening.max() > 0.4 * JAW_OPEN * face.face_width
    quiet = loud < 3
    silent = opening[quiet & np.roll(quiet, 1)]  # a frame into the silence
    assert len(silent) > 10 and np.abs(silent).max() <= 2.0, silent
    assert after and np.abs(after).max() <= 2.0, after[:5]  # shut from the next frame on


def test_listening_shows_attention(portrait: Portrait) -> None:
    idle, listening = Motion(FPS, portrait.face_width), Motion(FPS, portrait.face_width)
    calm = [idle.step(b"", RATE, listening=False) for _ in range(FPS * 4)]
    heard = [listening.step(b"", RATE, listening=True) for _ in range(FPS * 4)]
    assert max(p.brow for p in heard) > 0.2 and max(p.brow for p in calm) == 0.0
    lean = np.mean([p.head_y for p in heard[FPS * 2 :]]) - np.mean(
        [p.head_y for p in calm[FPS * 2 :]]
    )
    assert lean > 0.8  # a little forward and down, toward the caller


def test_piper_says_where_the_lips_meet_and_round() -> None:
    from localagent.avatar.visemes import viseme_track
    from localagent.testing.speech import aligned_voice

    chunks = list(aligned_voice().synthesize("Bob met Pam. You too.", include_alignments=True))
    track = viseme_track(chunks)
    assert track is not None
    seconds = sum(len(c.audio_int16_bytes) // 2 for c in chunks) / chunks[0].sample_rate
    assert (
        track.starts == sorted(track.starts) and 0 <= track.starts[0] < track.starts[-1] < seconds
    )
    closures = [s for s, v in zip(track.starts, track.shapes, strict=True) if v.shut == 1.0]
    rounded = [s for s, v in zip(track.starts, track.shapes, strict=True) if v.spread <= -1.0]
    assert len(closures) == 5, closures  # b, b, m, p, m
    assert len(rounded) >= 2 and min(rounded) > max(closures)  # "you too" comes after


async def test_the_lips_follow_the_tts_phonemes_when_it_gives_them(portrait: Portrait) -> None:
    from localagent.avatar.visemes import Viseme, VisemeTrack
    from localagent.call.spoken_words import SpokenWords

    words = SpokenWords()
    track = VisemeTrack([0.0, 0.6], [Viseme(0.0, -0.1, shut=1.0), Viseme(1.0, 0.15)])
    words.put("c1", "Mama.", [("Mama.", 1.2)], track)
    t = np.arange(int(1.2 * RATE)) / RATE
    loud = (np.sin(2 * np.pi * 220 * t) * 0.4 * 32767).astype(np.int16)
    chunk = RATE // 10
    frames: list[Frame] = [
        TTSAudioRawFrame(loud[i : i + chunk].tobytes(), RATE, 1, context_id="c1")
        for i in range(0, len(loud), chunk)
    ]
    from pipecat.frames.frames import TTSTextFrame

    recorder = FrameLog()
    avatar = LocalAvatar(width=W, height=H, fps=FPS, face=portrait, spoken_words=words)
    await run_test(
        Pipeline([avatar, recorder]),
        frames_to_send=[
            *frames,
            TTSTextFrame("Mama.", "sentence", context_id="c1"),
            SleepFrame(sleep=1.6),
        ],
    )
    m = meter(portrait)
    p = portrait.points
    cx, cy = int(p[62, 0]), int((p[62, 1] + p[66, 1]) / 2)
    teeth = portrait.frame[cy - 1 : cy + 2, cx - 4 : cx + 5].mean()
    speaking: list[tuple[float, float]] = []  # (jaw px, brightness between the lips)
    pending = False
    for _, f in recorder.seen:
        if isinstance(f, TTSAudioRawFrame):
            pending = True
        elif isinstance(f, OutputImageRawFrame) and pending:
            image = frame_of(f.image)
            speaking.append((m.jaw_px(image), image[cy - 1 : cy + 2, cx - 4 : cx + 5].mean()))
            pending = False
    assert len(speaking) >= 28
    first, second = speaking[2:13], speaking[17:28]  # well inside each shape
    assert all(jaw <= 1.5 for jaw, _ in first), first  # loud, but the lips are shut
    assert all(light < teeth - 25 for _, light in first), (teeth, first)  # lips over the teeth
    assert all(jaw > 8 for jaw, _ in second), second  # then an open "a"


def test_doctor_says_whether_a_photo_can_be_animated(
    photo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localagent.commands.doctor import check_portrait
    from localagent.settings import Settings

    def checks(image: Path | None) -> dict[str, tuple[str, str]]:
        found = check_portrait(Settings(avatar_image=image, data_dir=tmp_path / "data"))
        return {c.name: (c.status, f"{c.detail} {c.fix}") for c in found}

    assert checks(None)["portrait avatar"][0] == "ok"
    assert checks(photo_dir / "astronaut.png")["avatar image"][0] == "ok"
    status, said = checks(no_face(tmp_path))["avatar image"]
    assert status == "error" and "No frontal face" in said
    monkeypatch.setattr(landmarks_module, "landmarker_missing", lambda: "dlib is not installed")
    status, said = checks(None)["portrait avatar"]
    assert status == "info" and "pip install -e '.[portrait]'" in said
