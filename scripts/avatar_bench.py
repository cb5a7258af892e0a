"""The local avatar measured: CPU per frame, lip sync, a shut mouth in silence, identity.

At the given size and frame rate, on one thread (OpenCV held to one), for the drawn face
and for a portrait (scikit-image's public-domain NASA astronaut, or `--photo`):

- drawing: CPU ms per frame (median, p95) while speaking, and the VP8 encoding that the
  WebRTC transport then does (localagent's encoder): the whole avatar's share of one core;
- lip sync: speech in several voices goes through the real `LocalAvatar` (paced, one audio
  chunk and one picture per tick); the jaw opening is measured from the pictures alone
  (`localagent.testing.face_meter`) and cross-correlated with the audio's loudness, per
  voice; and how far the mouth is open a frame into each silence (px);
- identity: 10 s of idle frames against the photo, face region, SSIM as drawn and with the
  head's small shift undone; pixels outside the head region changed (must be 0).

    python scripts/avatar_bench.py [--size 1280x720] [--fps 25] [--photo P] [--sheet OUT.jpg]

`--sheet` also writes a contact sheet: the photo, idle, listening, and mouth shapes.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import soxr

from localagent.avatar.face import Face
from localagent.avatar.landmarks import load_portrait
from localagent.avatar.local import Drawable
from localagent.avatar.motion import Motion
from localagent.avatar.portrait import JAW_OPEN, Portrait
from localagent.avatar.pose import Pose
from localagent.avatar.visemes import VisemeTrack, viseme_track
from localagent.call.spoken_words import WordEnds
from localagent.cpu import cpu_summary
from localagent.testing.face_meter import FaceMeter, face_ssim, lag_ms, tick_loudness

RATE = 24000
LINES = [
    "Hello! I can help you with your printer today.",
    "Please check that the paper tray is full, then press the green button.",
    "Your order number is four, seven, two, nine. Is there anything else?",
]


@dataclass
class Line:
    text: str
    pcm: np.ndarray  # int16 at RATE
    spoken: tuple[WordEnds, VisemeTrack | None] | None = None  # what Piper says it said


def voices() -> dict[str, list[Line]]:
    """Speech at RATE: the bot's Piper voice with its phoneme timings (as the app speaks),
    the same audio without them (the spectrum's shapes), and the corpus' voices the avatar
    was not tuned on (espeak-ng's when it is installed)."""
    from localagent.call.spoken_words import word_ends
    from localagent.testing.speech import aligned_voice
    from localagent.testing.turn_corpus import RATE as CORPUS_RATE
    from localagent.testing.turn_corpus import available

    piper = aligned_voice()
    lines = []
    for text in LINES:
        chunks = list(piper.synthesize(text, include_alignments=True))
        pcm = np.frombuffer(b"".join(c.audio_int16_bytes for c in chunks), np.int16)
        pcm = soxr.resample(pcm, piper.config.sample_rate, RATE)
        ends = word_ends(piper, text, chunks)
        lines.append(Line(text, pcm, (ends, viseme_track(chunks)) if ends else None))
    said = {
        "piper joe, phonemes": lines,
        "piper joe, spectrum": [Line(line.text, line.pcm) for line in lines],
    }
    for family in available():
        if family.name.startswith(("espeak en-us", "espeak en-gb", "piper slow")):
            said[f"{family.name}, spectrum"] = [
                Line(text, soxr.resample(family.say(text), CORPUS_RATE, RATE)) for text in LINES
            ]
    return said


def luma_psnr(sent: Any, got: Any) -> float:
    """PSNR of the decoded picture's luma against the one encoded, in dB."""
    a = sent.to_ndarray()[: sent.height].astype(np.float32)
    b = got.to_ndarray(format="yuv420p")[: got.height].astype(np.float32)
    return float(10 * np.log10(255**2 / max(float(np.mean((a - b) ** 2)), 1e-6)))


def encoders(face: Drawable, speech: np.ndarray, fps: int, size: tuple[int, int]) -> None:
    """aiortc's VP8 settings against localagent's encoder, on 100 talking pictures."""
    import av
    from aiortc.codecs.vpx import Vp8Encoder as AiortcVp8Encoder
    from av import VideoFrame

    from localagent.avatar.video_encoder import Vp8Encoder

    width, height = size
    motion = Motion(fps, face.face_width)
    step = RATE // fps
    pictures = [
        np.frombuffer(face.draw(motion.step(speech[i : i + step].tobytes(), RATE, False)), np.uint8)
        .reshape(height, width, 3)
        .copy()
        for i in range(0, min(len(speech), 100 * step), step)
    ]
    theirs, ours = AiortcVp8Encoder(), Vp8Encoder()
    decoder = av.CodecContext.create("libvpx", "r")
    their_ms, our_ms, psnr = [], [], []
    sent = 0
    for i, picture in enumerate(pictures):
        start = time.process_time()
        video = VideoFrame.from_ndarray(picture, format="rgb24")
        video.pts, video.time_base = i * 3600, fractions.Fraction(1, 90000)
        theirs.encode(video)
        their_ms.append((time.process_time() - start) * 1000)
        start = time.process_time()
        packet = ours.encode(VideoFrame.from_ndarray(picture, format="rgb24"), i * 3600)
        our_ms.append((time.process_time() - start) * 1000)
        sent += packet.size
        original = VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        psnr += [luma_psnr(original, got) for got in decoder.decode(packet)]
    print(f"\nVP8 on {len(pictures)} talking portrait pictures (CPU ms per picture, median)")
    print(
        f"aiortc's settings {statistics.median(their_ms):.2f}; localagent's encoder "
        f"{statistics.median(our_ms):.2f}, {sent * 8 * fps / len(pictures) / 1000:.0f} kbit/s, "
        f"PSNR-Y median {statistics.median(psnr):.1f} dB, lowest {min(psnr):.1f} dB"
    )


def cpu_rows(face: Drawable, speech: np.ndarray, fps: int, size: tuple[int, int]) -> list[float]:
    """CPU ms per frame of drawing, and of drawing + VP8, over `speech`."""
    from av import VideoFrame

    from localagent.avatar.video_encoder import Vp8Encoder

    width, height = size
    motion = Motion(fps, face.face_width)
    step = RATE // fps
    encoder = Vp8Encoder()
    draw_ms: list[float] = []
    total_ms: list[float] = []
    last: bytes | None = None
    for i in range(0, len(speech) - step, step):
        chunk = speech[i : i + step].tobytes()
        start = time.process_time()
        image = face.draw(motion.step(chunk, RATE, listening=False))
        drawn = time.process_time()
        if image is not last:  # the video track sends changed pictures only
            frame = VideoFrame.from_ndarray(
                np.frombuffer(image, np.uint8).reshape(height, width, 3), format="rgb24"
            )
            frame.time_base = fractions.Fraction(1, 90000)
            encoder.encode(frame, i // step * 3600)
        last = image
        end = time.process_time()
        draw_ms.append((drawn - start) * 1000)
        total_ms.append((end - start) * 1000)
    return [
        statistics.median(draw_ms),
        float(np.percentile(draw_ms, 95)),
        statistics.median(total_ms),
    ]


async def through_the_avatar(
    face: Portrait, speech: list[Line], fps: int
) -> tuple[np.ndarray, np.ndarray]:
    """(loudness, jaw px) per tick, from a real LocalAvatar's output frames."""
    from pipecat.frames.frames import Frame, OutputImageRawFrame, TTSAudioRawFrame, TTSTextFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.tests.utils import SleepFrame, run_test

    from localagent.avatar.local import LocalAvatar
    from localagent.call.spoken_words import SpokenWords

    meter = FaceMeter(face.frame, face.points, search_px=int(JAW_OPEN * face.face_width) + 8)
    ticks: list[tuple[bytes, float]] = []

    class Watch(FrameProcessor):
        pending = b""

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, TTSAudioRawFrame):
                self.pending = frame.audio
            elif isinstance(frame, OutputImageRawFrame):
                image = np.frombuffer(frame.image, np.uint8).reshape(face.height, face.width, 3)
                ticks.append((self.pending, meter.jaw_px(image)))
                self.pending = b""
            await self.push_frame(frame, direction)

    frames: list[Frame] = []
    words = SpokenWords()
    for n, line in enumerate(speech):
        chunk, context = RATE // 10, f"c{n}"
        frames += [
            TTSAudioRawFrame(line.pcm[i : i + chunk].tobytes(), RATE, 1, context_id=context)
            for i in range(0, len(line.pcm), chunk)
        ]
        if line.spoken is not None:  # as the app's Piper service tells the avatar
            words.put(context, line.text, *line.spoken)
        frames.append(TTSTextFrame(line.text, "sentence", context_id=context))
        frames.append(SleepFrame(sleep=len(line.pcm) / RATE + 0.5))
    avatar = LocalAvatar(
        width=face.width, height=face.height, fps=fps, face=face, spoken_words=words
    )
    await run_test(Pipeline([avatar, Watch()]), frames_to_send=frames)
    loudness = tick_loudness([a for a, _ in ticks], RATE, fps)
    return loudness, np.array([jaw for _, jaw in ticks])


def sheet(portrait: Portrait, photo: np.ndarray, out: Path) -> None:
    x0, y0, x1, y1 = portrait.box
    listening = Motion(25, portrait.face_width)
    pose = Pose()
    for _ in range(50):
        pose = listening.step(b"", RATE, listening=True)
    shots = [
        ("photo", portrait.frame),
        ("idle", portrait.draw(Pose())),
        ("listening", portrait.draw(pose)),
        ("'ah' (open)", portrait.draw(Pose(jaw=0.85))),
        ("'ee' (spread)", portrait.draw(Pose(jaw=0.3, spread=1.0))),
        ("'oo' (round)", portrait.draw(Pose(jaw=0.35, spread=-1.0))),
        ("'m' (shut)", portrait.draw(Pose(shut=1.0))),
        ("blink", portrait.draw(Pose(blink=1.0))),
    ]
    tiles = []
    for name, image in shots:
        rgb = (
            image
            if isinstance(image, np.ndarray)
            else np.frombuffer(image, np.uint8).reshape(portrait.height, portrait.width, 3)
        )
        tile = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        tile = cv2.resize(
            tile, (256, round(256 * (y1 - y0) / (x1 - x0))), interpolation=cv2.INTER_AREA
        )
        cv2.putText(tile, name, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2)
        tiles.append(tile)
    rows = [np.hstack(tiles[i : i + 4]) for i in range(0, len(tiles), 4)]
    cv2.imwrite(
        str(out), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
    )
    del photo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--photo", type=Path, help="a portrait (default: the NASA astronaut)")
    parser.add_argument("--sheet", type=Path, help="write a contact sheet of the portrait here")
    args = parser.parse_args()
    print(f"CPU: {cpu_summary()}", flush=True)  # every figure names its CPU
    width, height = (int(v) for v in args.size.split("x"))
    cv2.setNumThreads(1)
    if args.photo is None:
        from localagent.testing.portraits import astronaut

        args.photo = astronaut(Path(tempfile.mkdtemp(prefix="avatar-bench-")))
    photo, marks = load_portrait(args.photo)
    portrait = Portrait(photo, marks, width, height)
    said = voices()
    speech = np.concatenate([line.pcm for line in said["piper joe, phonemes"]])

    print(f"local avatar at {width}x{height}, {args.fps} fps, one thread; photo {args.photo.name}")
    print(
        f"{'face':<12}{'draw ms p50':>12}{'draw ms p95':>12}{'+VP8 ms p50':>12}{'core share':>12}"
    )
    for name, face in (("drawn", Face(width, height)), ("portrait", portrait)):
        draw50, draw95, total50 = cpu_rows(face, speech, args.fps, (width, height))
        share = total50 * args.fps / 1000
        print(f"{name:<12}{draw50:>12.2f}{draw95:>12.2f}{total50:>12.2f}{share:>12.1%}")

    encoders(portrait, speech, args.fps, (width, height))

    print("\nlip sync, measured from the pictures (jaw px vs loudness), through LocalAvatar")
    head = ("voice, mouth shapes from", "lag ms", "corr", "open p95 px", "silent max", "p95")
    print(f"{head[0]:<34}{head[1]:>8}{head[2]:>7}{head[3]:>12}{head[4]:>12}{head[5]:>9}")
    lags, shut_all = [], []
    for name, lines in said.items():
        loud, jaw = asyncio.run(through_the_avatar(portrait, lines, args.fps))
        lag = lag_ms(loud, jaw, args.fps)
        corr = float(np.corrcoef(loud, jaw)[0, 1])
        quiet = loud < 3
        shut = np.abs(jaw[quiet & np.roll(quiet, 1)])
        lags.append(lag)
        shut_all.append(shut)
        print(
            f"{name:<34}{lag:>8.0f}{corr:>7.2f}{np.percentile(jaw, 95):>12.1f}"
            f"{shut.max():>12.2f}{np.percentile(shut, 95):>9.2f}"
        )
    shut = np.concatenate(shut_all)
    lag, top, p95 = statistics.median(lags), shut.max(), np.percentile(shut, 95)
    print(f"{'all (median lag)':<34}{lag:>8.0f}{'':>7}{'':>12}{top:>12.2f}{p95:>9.2f}")

    motion = Motion(args.fps, portrait.face_width)
    raw, aligned = [], []
    x0, y0, x1, y1 = portrait.box
    outside = np.ones((height, width), bool)
    outside[y0:y1, x0:x1] = False
    changed = 0
    for _ in range(args.fps * 10):
        image = np.frombuffer(portrait.draw(motion.step(b"", RATE, False)), np.uint8).reshape(
            height, width, 3
        )
        a, b = face_ssim(portrait.frame, image, portrait.points)
        raw.append(a)
        aligned.append(b)
        changed = max(
            changed,
            int(np.count_nonzero(np.any(image[outside] != portrait.frame[outside], axis=1))),
        )
    print("\nidentity over 10 s idle, face region against the photo")
    print(f"SSIM as drawn: median {statistics.median(raw):.3f}, lowest {min(raw):.3f}")
    median, lowest = statistics.median(aligned), min(aligned)
    print(f"SSIM with the head's shift undone: median {median:.3f}, lowest {lowest:.3f}")
    print(f"pixels changed outside the head region: {changed}")
    if args.sheet:
        sheet(portrait, photo, args.sheet)
        print(f"contact sheet: {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
