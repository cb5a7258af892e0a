"""Per-session pipecat services built on the process-wide engines.

The subclasses only swap pipecat's load-per-instance for the shared, already warm model;
everything else (segmenting, metrics, resampling) is pipecat's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer
from pipecat.services.ollama.llm import OLLamaLLMService
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.tts_service import TTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transcriptions.language import Language

from localagent.settings import Settings

if TYPE_CHECKING:
    from localagent.call.engines import Engines

__all__ = [
    "BoundedOllamaLLMService",
    "SharedPiperTTSService",
    "SharedWhisperSTTService",
    "SharedSileroVAD",
    "create_llm",
    "create_stt",
    "create_tts",
    "create_vad",
]


class SharedWhisperSTTService(WhisperSTTService):
    """WhisperSTTService over a model loaded once for the process."""

    def __init__(self, *, engines: Engines, **kwargs: Any) -> None:
        self._shared_model = engines.whisper
        super().__init__(
            device=engines.whisper_device,
            compute_type=engines.whisper_compute_type,
            settings=WhisperSTTService.Settings(
                model=str(engines.whisper_model.path), language=Language.EN
            ),
            # Segmented whisper finalizes every transcript, so end-of-turn never waits this
            # long; it only bounds the wait if a transcript goes missing.
            ttfs_p99_latency=1.0,
            **kwargs,
        )

    def _load(self) -> None:
        self._model = self._shared_model


class SharedPiperTTSService(PiperTTSService):
    """PiperTTSService over a voice loaded once for the process (no download path)."""

    def __init__(self, *, engines: Engines, **kwargs: Any) -> None:
        # PiperTTSService.__init__ would load (or download) the voice again; skip to its base.
        TTSService.__init__(
            self,
            push_start_frame=True,
            push_stop_frames=True,
            settings=PiperTTSService.Settings(
                model=None, voice=engines.piper_voice.name, language=None
            ),
            **kwargs,
        )
        self._voice = engines.piper


class SharedSileroVAD(SileroVADAnalyzer):
    """Silero VAD over an ONNX session loaded once for the process.

    Each call keeps its own recurrent state (in `SileroOnnxModel`), but loading a model
    per call cost start-up time and left native memory behind (`scripts/soak.py`).
    """

    def __init__(self, *, engines: Engines, **kwargs: Any) -> None:
        VADAnalyzer.__init__(self, **kwargs)  # SileroVADAnalyzer.__init__ would load a copy
        model = SileroOnnxModel.__new__(SileroOnnxModel)
        model.session = engines.vad
        model.sample_rates = [8000, 16000]
        model.reset_states()
        self._model = model
        self._windows_since_reset = 0
        self._low_confidence_windows = 0


def create_vad(engines: Engines) -> SharedSileroVAD:
    return SharedSileroVAD(engines=engines)


def create_stt(engines: Engines) -> SharedWhisperSTTService:
    return SharedWhisperSTTService(engines=engines)


def create_tts(engines: Engines) -> SharedPiperTTSService:
    return SharedPiperTTSService(engines=engines)


class BoundedOllamaLLMService(OLLamaLLMService):
    """OLLamaLLMService whose requests give up when Ollama goes silent.

    The OpenAI client pipecat builds waits up to ten minutes and retries twice, so an
    Ollama that stalls mid-answer would hold the turn for half an hour. Here a silence of
    `timeout_s` (before the first token or between two chunks) fails the request at once;
    pipecat reports it as an error and the session apologises.
    """

    def __init__(self, *, timeout_s: float, **kwargs: Any) -> None:
        self._timeout_s = timeout_s  # create_client runs inside super().__init__
        super().__init__(**kwargs)

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        client = super().create_client(*args, **kwargs)
        return client.with_options(timeout=self._timeout_s, max_retries=0)


def create_llm(settings: Settings) -> OLLamaLLMService:
    return BoundedOllamaLLMService(
        timeout_s=settings.llm_timeout,
        base_url=settings.ollama_host.rstrip("/") + "/v1",
        settings=OLLamaLLMService.Settings(model=settings.llm_model),
    )
