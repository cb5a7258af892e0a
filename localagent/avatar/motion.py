"""What the face does from frame to frame: the mouth from the voice, and the life around it.

The mouth comes from each frame's own audio (so it cannot drift from the voice): loudness
opens the jaw, the spectrum shapes the lips (a high second formant spreads them as in
"ee", a low one rounds them as in "oo"; hiss nearly closes them, as "s" and "f" do). Around
it, so the face is never a frozen photo: blinks every few seconds, small gaze shifts, slow
breathing and head sway, brows that rise on the voice's emphasis, and while the caller
speaks, attention: the head a little forward and tilted, a small nod now and then.
"""

from __future__ import annotations

import math
import random

import numpy as np

from localagent.avatar.pose import Pose
from localagent.avatar.visemes import Viseme

__all__ = ["Motion", "mouth_shape"]

_SILENCE_DB, _LOUD_DB = -50.0, -12.0


def mouth_shape(chunk: bytes, sample_rate: int) -> tuple[float, float]:
    """(jaw opening 0..1, lip spread -1..1) for one frame's 16-bit mono PCM."""
    n = len(chunk) // 2
    if n < 64:
        return 0.0, 0.0
    samples = np.frombuffer(chunk[: n * 2], dtype=np.int16).astype(np.float32) / 32768.0
    rms = float(np.sqrt(np.mean(samples * samples)))
    db = 20.0 * math.log10(max(rms, 1e-6))
    # Speech sits near the top of the range: a power keeps the jaw from hanging open.
    jaw = min(1.0, max(0.0, (db - _SILENCE_DB) / (_LOUD_DB - _SILENCE_DB))) ** 1.6
    if jaw <= 0.0:
        return 0.0, 0.0
    power = np.abs(np.fft.rfft(samples * np.hanning(n))) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    voiced = power[(freqs >= 250) & (freqs < 3500)]
    hiss = float(power[freqs >= 4000].sum())
    total = float(voiced.sum()) + hiss + 1e-12
    band = freqs[(freqs >= 250) & (freqs < 3500)]
    centroid = float((voiced * band).sum() / (voiced.sum() + 1e-12))
    spread = max(-1.0, min(1.0, (centroid - 1100.0) / 700.0))
    jaw *= 1.0 - 0.7 * (hiss / total)
    return jaw, spread


class Motion:
    """The pose for each frame; `step` is called once per frame with that frame's audio."""

    def __init__(self, fps: int, face_width: float = 230.0, seed: int = 7) -> None:
        self._fps = fps
        self._unit = face_width / 230.0  # motions are sized for a face this wide
        self._rng = random.Random(seed)
        self._frame = 0
        self._jaw = 0.0
        self._spread = 0.0
        self._shut = 0.0
        self._loud = 0.0  # slow loudness, to hear emphasis against
        self._brow = 0.0
        self._next_blink = 2.0
        self._blink_at = -1.0
        self._gaze, self._gaze_to, self._next_gaze = 0.0, 0.0, 1.5
        self._attention = 0.0  # eases in while the caller speaks
        self._talking = 0.0  # eases in while the bot speaks
        self._nod_at = -10.0
        self._next_nod = 0.0  # while listening, the next nod is due then
        self._last = Pose()

    def close_mouth(self) -> None:
        """At once, not eased: the voice was cut (an interruption, a hush)."""
        self._jaw = self._shut = 0.0

    def step(
        self, audio: bytes, sample_rate: int, listening: bool, viseme: Viseme | None = None
    ) -> Pose:
        """The next frame's pose; `viseme`, when the TTS said which sound this audio is,
        shapes the lips instead of the spectrum."""
        t = self._frame / self._fps
        self._frame += 1
        jaw, spread = mouth_shape(audio, sample_rate) if audio else (0.0, 0.0)
        shut = 0.0
        if viseme is not None and audio:
            jaw, spread, shut = jaw * viseme.open, viseme.spread, viseme.shut
        self._shut += (shut - self._shut) * 0.7
        # Open fast, close a little slower (at once in silence): speech, not flicker.
        ease = 0.8 if jaw > self._jaw else (0.6 if jaw else 0.8)
        self._jaw += (jaw - self._jaw) * ease
        self._spread += (spread - self._spread) * 0.5
        if self._jaw < 0.02:
            self._jaw = 0.0
        # Emphasis: louder than the voice has lately been lifts the brows a little.
        self._loud += (jaw - self._loud) * 0.08
        lift = 1.0 if jaw > self._loud + 0.25 and jaw > 0.5 else 0.0
        self._brow += (lift - self._brow) * (0.35 if lift > self._brow else 0.08)

        if t >= self._next_blink:
            self._blink_at = t
            self._next_blink = t + self._rng.uniform(2.5, 5.5)
        since = t - self._blink_at
        blink = max(0.0, 1.0 - abs(since - 0.08) / 0.08) if 0 <= since < 0.16 else 0.0
        if t >= self._next_gaze:
            self._gaze_to = self._rng.uniform(-0.6, 0.6) if self._gaze_to == 0.0 else 0.0
            self._next_gaze = t + self._rng.uniform(1.2, 3.5)
        self._gaze += (self._gaze_to - self._gaze) * 0.5

        self._attention += ((1.0 if listening else 0.0) - self._attention) * 0.06
        if listening and t >= self._next_nod:
            self._nod_at = t
            self._next_nod = t + self._rng.uniform(2.2, 4.0)
        nod_t = t - self._nod_at
        nod = 2.5 * math.sin(nod_t / 0.5 * math.pi) if 0 <= nod_t < 0.5 else 0.0
        if self._frame % 2 == 0 and not audio and not self._jaw and not blink and not listening:
            self._shut = 0.0
            # Idle sway is slow: half the frames repeat, and the video skips a repeat.
            return self._last
        u = self._unit
        # A speaker's head moves more than a resting one.
        self._talking += ((1.0 if audio else 0.0) - self._talking) * 0.05
        sway = 0.55 + 0.45 * self._talking
        breath = 0.8 * math.sin(t * 2 * math.pi / 4.2)
        head_x = sway * (1.6 * math.sin(t * 0.63) + 0.6 * math.sin(t * 1.7 + 0.4))
        head_y = sway * 1.0 * math.sin(t * 0.91 + 1.0) + breath + nod + 1.5 * self._attention
        roll = sway * 0.008 * math.sin(t * 0.5 + 2.0) + 0.02 * self._attention
        self._last = Pose(
            jaw=round(self._jaw, 3),
            spread=round(self._spread, 2),
            shut=round(self._shut, 2),
            blink=round(blink, 2),
            gaze=round(self._gaze, 2),
            brow=round(max(self._brow, 0.35 * self._attention), 2),
            head_x=round(head_x * u, 2),
            head_y=round(head_y * u, 2),
            roll=round(roll, 4),
        )
        return self._last
