"""Model servers on loopback, speaking the protocols of the ones people run, with real models.

- `TranscriptionServer`: OpenAI's `POST /v1/audio/transcriptions` (multipart: file, model,
  language, response_format json|verbose_json|text) and `GET /v1/models`, as
  faster-whisper-server/speaches serve them; transcribed by faster-whisper tiny.en.
- `PiperServer`: Piper's own `python -m piper.http_server` (`POST /synthesize` with
  `{"text", "voice"}` answering a WAV; `GET /voices`, `GET /info`), with the packaged voice.

The LLM side needs none: the fake Ollama serves the OpenAI chat API at `/v1` too.
"""

from __future__ import annotations

import asyncio
import io
import wave
from typing import Any

import numpy as np
from aiohttp import web

from localagent.testing.in_thread import InThread
from localagent.testing.loopback import LoopbackServer

__all__ = [
    "PiperServer",
    "ThreadedPiperServer",
    "ThreadedTranscriptionServer",
    "TranscriptionServer",
]


class TranscriptionServer(LoopbackServer):
    def __init__(self, model: str = "Systran/faster-whisper-tiny.en") -> None:
        super().__init__()
        self.model = model
        self.requests: list[dict[str, str]] = []  # the form fields of each request
        self._whisper: Any = None

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        return app

    async def _models(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": self.model, "object": "model"}]}
        )

    async def _transcribe(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        fields = {k: str(v) for k, v in form.items() if k != "file"}
        self.requests.append(fields)
        if fields.get("model") != self.model:
            return web.json_response(
                {"error": {"message": f"model '{fields.get('model')}' is not served here"}},
                status=404,
            )
        if upload is None or not hasattr(upload, "file"):
            return web.json_response({"error": {"message": "no file"}}, status=400)
        data = upload.file.read()
        text, duration = await asyncio.to_thread(self._run, data, fields.get("language"))
        kind = fields.get("response_format", "json")
        if kind == "text":
            return web.Response(text=text)
        body: dict[str, Any] = {"text": text}
        if kind == "verbose_json":
            body |= {"language": fields.get("language", "en"), "duration": duration, "segments": []}
        return web.json_response(body)

    def _run(self, wav_bytes: bytes, language: str | None) -> tuple[str, float]:
        if self._whisper is None:
            from faster_whisper import WhisperModel

            from localagent.models.resolve import resolve_whisper_model
            from localagent.settings import Settings

            path = resolve_whisper_model("tiny.en", Settings().models_dir).path
            self._whisper = WhisperModel(str(path), device="cpu", compute_type="int8")
        with wave.open(io.BytesIO(wav_bytes)) as w:
            rate, frames = w.getframerate(), w.readframes(w.getnframes())
        audio = np.frombuffer(frames, np.int16).astype(np.float32) / 32768.0
        if rate != 16000:
            audio = np.interp(
                np.arange(0, len(audio), rate / 16000), np.arange(len(audio)), audio
            ).astype(np.float32)
        segments, _ = self._whisper.transcribe(audio, language=language or "en", beam_size=1)
        return "".join(s.text for s in segments).strip(), len(audio) / 16000


class PiperServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._voice: Any = None
        self._name = "en_US-joe-medium"

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/synthesize", self._synthesize)
        app.router.add_get("/voices", self._voices)
        app.router.add_get("/info", self._info)
        return app

    def _load(self) -> Any:
        if self._voice is None:
            from localagent.testing.speech import voice

            self._voice = voice()
        return self._voice

    async def _voices(self, _request: web.Request) -> web.Response:
        return web.json_response({self._name: {"language": {"code": "en_US"}}})

    async def _info(self, _request: web.Request) -> web.Response:
        return web.json_response({"voice": {"name": self._name, "num_speakers": 1}, "last": None})

    async def _synthesize(self, request: web.Request) -> web.Response:
        data = await request.json()
        text = str(data.get("text", "")).strip()
        if not text:
            return web.Response(status=500, text="No text provided")  # Flask's ValueError
        self.texts.append(text)
        wav = await asyncio.to_thread(self._wav, text)
        return web.Response(body=wav, content_type="audio/wav")

    def _wav(self, text: str) -> bytes:
        voice = self._load()
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(voice.config.sample_rate)
            for chunk in voice.synthesize(text):
                w.writeframes(chunk.audio_int16_bytes)
        return out.getvalue()


class ThreadedTranscriptionServer(InThread[TranscriptionServer]):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(lambda: TranscriptionServer(**kwargs))


class ThreadedPiperServer(InThread[PiperServer]):
    def __init__(self) -> None:
        super().__init__(PiperServer)
