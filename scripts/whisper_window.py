"""Why localagent keeps whisper's 30 s window: speed and accuracy of shorter ones.

faster-whisper pads every utterance to a 30 s window, and on a slow CPU the encoder's pass
over that window is most of STT (0.43 s of the 0.6 s a 2 s sentence takes on a 2-core
machine). CTranslate2 accepts a shorter window, which is several times faster; this prints
what it does to accuracy, on Piper-spoken sentences clean, slower with noise at 20 dB SNR
and faster at 10 dB, each with VAD-like silence either side.

    python scripts/whisper_window.py [--whisper-model tiny.en]

"dropped" counts utterances pipecat's WhisperSTTService would discard whole: a segment
whose no-speech probability reaches its 0.4 default.
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

import jiwer
import numpy as np
import soxr
from faster_whisper import WhisperModel
from piper import SynthesisConfig

from localagent.call.transcriber import Transcriber
from localagent.cpu import cpu_summary
from localagent.models.resolve import resolve_whisper_model
from localagent.settings import Settings
from localagent.testing.speech import voice

SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "My printer will not print anything.",
    "Can you tell me how to reset my password?",
    "The wifi in the office keeps dropping.",
    "I cannot open the shared folder.",
    "The screen in the meeting room shows no picture.",
    "Hi.",
    "Yes please.",
    "No, that's all, thank you very much.",
    "Could you book a table for four people at seven thirty tomorrow evening, somewhere "
    "near the station, preferably Italian?",
    "I'd like to change my delivery address to forty two Baker Street, London, and also "
    "update my phone number.",
    "What's the weather going to be like on Saturday afternoon?",
    "Please cancel my order number one two three four five.",
]
CONDITIONS = [(1.0, None), (1.25, 20.0), (0.85, 10.0)]  # Piper length scale, SNR in dB
WINDOWS = [("30 s (faster-whisper)", None, 0.0), ("10 s", 0.0, 10.0), ("speech + 3 s", 3.0, 0.0)]
FRAMES_PER_S = 100  # whisper's mel frames
RATE = 16000


class WindowedWhisper(WhisperModel):
    """Encodes `pad_s` of the zero padding after the speech (at least `min_s` in all)
    instead of the whole 30 s window; None keeps faster-whisper's window."""

    pad_s: float | None = None
    min_s: float = 0.0

    def encode(self, features: np.ndarray) -> Any:
        if self.pad_s is not None:
            speech = np.flatnonzero(np.any(features != 0, axis=-2))
            end = int(speech[-1]) + 1 if len(speech) else features.shape[-1]
            frames = max(end + int(self.pad_s * FRAMES_PER_S), int(self.min_s * FRAMES_PER_S))
            frames = min(features.shape[-1], frames + frames % 2)
            features = np.ascontiguousarray(features[..., :frames])
        return super().encode(features)


def clips() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = []
    for text in SENTENCES:
        for length_scale, snr in CONDITIONS:
            config = SynthesisConfig(length_scale=length_scale)
            pcm = b"".join(c.audio_int16_bytes for c in voice().synthesize(text, config))
            audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768
            audio = soxr.resample(audio, voice().config.sample_rate, RATE)
            audio = np.concatenate([np.zeros(RATE * 3 // 10), audio, np.zeros(RATE // 5)])
            if snr is not None:
                power = float(np.mean(audio**2)) / 10 ** (snr / 10)
                audio = audio + rng.normal(0, np.sqrt(power), len(audio))
            out.append((text, audio.astype(np.float32)))
    return out


def words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()) or "<nothing>"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--whisper-model", default="tiny.en")
    args = parser.parse_args()
    print(f"CPU: {cpu_summary()}", flush=True)  # every figure names its CPU
    ref = resolve_whisper_model(args.whisper_model, Settings().models_dir)
    model = WindowedWhisper(str(ref.path), device="cpu", compute_type="int8")
    data = clips()
    list(model.transcribe(data[0][1], language="en", beam_size=1)[0])  # warm up
    print(f"whisper {ref.name} int8, {len(data)} utterances, greedy decoding")
    header = f"{'WER':>7}{'s per s of speech':>19}{'dropped':>9}{'worst p(no speech)':>20}"
    print(f"{'window':<28}{header}")
    transcriber = Transcriber(model, beam_size=1, window_s=10.0)
    rows: list[tuple[str, Any, float | None, float]] = [
        (name, model, pad_s, min_s) for name, pad_s, min_s in WINDOWS
    ]
    rows.append(("10 s, else 30 s (localagent)", transcriber, None, 0.0))
    for name, decoder, pad_s, min_s in rows:
        model.pad_s, model.min_s = pad_s, min_s
        said, heard, seconds, no_speech, dropped = [], [], 0.0, [], 0
        for text, audio in data:
            start = time.perf_counter()
            segments = list(decoder.transcribe(audio, language="en", beam_size=1)[0])
            seconds += time.perf_counter() - start
            said.append(words(text))
            heard.append(words(" ".join(s.text for s in segments)))
            no_speech += [s.no_speech_prob for s in segments]
            dropped += any(s.no_speech_prob >= 0.4 for s in segments)
        per_second = seconds / (sum(len(a) for _, a in data) / RATE)
        print(
            f"{name:<28}{jiwer.wer(said, heard):>7.1%}{per_second:>19.3f}{dropped:>9}"
            f"{max(no_speech):>20.2f}"
        )
    print(
        f"localagent decoded {transcriber.short_decodes} utterances over 10 s and "
        f"{transcriber.fallbacks} of them again over 30 s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
