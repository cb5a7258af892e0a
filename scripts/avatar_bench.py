"""How much CPU the local avatar costs per frame, and whether one core keeps real time.

Renders N frames of speech-driven animation at the given size on this process's single
thread and reports CPU milliseconds per frame (process time, so other load does not count),
the frame rate one core could sustain, and, for context, what aiortc's VP8 encoder then
spends on the same frames (the WebRTC transport's cost, not the avatar's), with aiortc's
settings and with `localagent.avatar.video_encoder` (no denoiser).

    python scripts/avatar_bench.py [--frames 500] [--size 1280x720] [--fps 25]
"""

from __future__ import annotations

import argparse
import fractions
import statistics
import time

import av
import numpy as np

from localagent.avatar.face import Face
from localagent.avatar.local import loudness_to_mouth


def luma_psnr(sent: av.VideoFrame, got: av.VideoFrame) -> float:
    """PSNR of the decoded picture's luma against the one encoded, in dB."""
    a = sent.to_ndarray()[: sent.height].astype(np.float32)
    b = got.to_ndarray(format="yuv420p")[: got.height].astype(np.float32)
    return float(10 * np.log10(255**2 / max(float(np.mean((a - b) ** 2)), 1e-6)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--no-encode", action="store_true", help="skip the VP8 comparison")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    rate = 24000
    t = np.arange(rate // args.fps) / rate
    chunks = [
        (np.sin(2 * np.pi * 180 * t) * 32767 * a).astype(np.int16).tobytes()
        for a in np.abs(np.sin(np.linspace(0, 20, args.frames)))
    ]

    face = Face(width, height)
    render_ms: list[float] = []
    frames: list[bytes] = []
    for i, chunk in enumerate(chunks):
        start = time.process_time()
        frame = face.render(loudness_to_mouth(chunk), float(i % 100 < 4), i % 5 - 2, i % 3 - 1)
        render_ms.append((time.process_time() - start) * 1000)
        if i < 100:
            frames.append(frame)

    rows = [("render (mouth from loudness + face)", render_ms)]
    if not args.no_encode:
        from aiortc.codecs.vpx import Vp8Encoder
        from av import VideoFrame

        from localagent.avatar.video_encoder import Vp8Encoder as OurVp8Encoder

        aiortc_encoder, ours = Vp8Encoder(), OurVp8Encoder()
        aiortc_ms: list[float] = []
        ours_ms: list[float] = []
        decoder = av.CodecContext.create("libvpx", "r")
        psnr: list[float] = []
        sent_bytes = 0
        for i, raw in enumerate(frames):
            image = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
            start = time.process_time()
            video = VideoFrame.from_ndarray(image, format="rgb24")
            video.pts, video.time_base = i * 3600, fractions.Fraction(1, 90000)
            aiortc_encoder.encode(video)
            aiortc_ms.append((time.process_time() - start) * 1000)
            start = time.process_time()
            packet = ours.encode(VideoFrame.from_ndarray(image, format="rgb24"), i * 3600)
            ours_ms.append((time.process_time() - start) * 1000)
            sent_bytes += packet.size
            sent = VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            psnr += [luma_psnr(sent, got) for got in decoder.decode(packet)]
        rows.append(("VP8 encode, aiortc's settings", aiortc_ms))
        rows.append(("VP8 encode, localagent's video encoder", ours_ms))

    print(f"local avatar at {width}x{height}, {args.frames} frames, one thread")
    print(f"{'stage':<44}{'median ms':>10}{'p95 ms':>9}{'fps on 1 core':>15}")
    for name, values in rows:
        median = statistics.median(values)
        p95 = sorted(values)[int(len(values) * 0.95) - 1]
        print(f"{name:<44}{median:>10.2f}{p95:>9.2f}{1000 / max(median, 1e-6):>15.0f}")
    if psnr:
        print(
            f"localagent's VP8: {sent_bytes * 8 * args.fps / len(psnr) / 1000:.0f} kbit/s at "
            f"{args.fps} fps, PSNR-Y median {statistics.median(psnr):.1f} dB, "
            f"lowest {min(psnr):.1f} dB"
        )
    budget = 1000 / args.fps
    render_median = statistics.median(render_ms)
    print(
        f"real-time budget at {args.fps} fps: {budget:.0f} ms/frame; the avatar uses "
        f"{render_median / budget:.1%} of one core"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
