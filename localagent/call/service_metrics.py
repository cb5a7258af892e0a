"""pipecat's per-service metrics (time to first byte, processing time) onto the event bus.

Each processor pushes its own `MetricsFrame`; the observer takes it at the hop where it
leaves that processor, so a frame passing on down the pipeline is counted once.
"""

from __future__ import annotations

from pipecat.frames.frames import MetricsFrame
from pipecat.metrics.metrics import ProcessingMetricsData, TTFBMetricsData
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.services.llm_service import LLMService
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService

from localagent.events import EventBus, ServiceMetric

__all__ = ["ServiceMetricsObserver", "service_label"]

_LABELS: tuple[tuple[type, str], ...] = (
    (STTService, "STT"),
    (LLMService, "LLM"),
    (TTSService, "TTS"),
)


def service_label(processor: FrameProcessor) -> str:
    for cls, label in _LABELS:
        if isinstance(processor, cls):
            return label
    return processor.name


class ServiceMetricsObserver(BaseObserver):
    def __init__(self, bus: EventBus, call_id: str) -> None:
        super().__init__()
        self._bus, self._call = bus, call_id

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        if not isinstance(frame, MetricsFrame):
            return
        for metric in frame.data:
            if metric.processor != data.source.name:
                continue  # passing through, or told on behalf of another
            if type(metric) is TTFBMetricsData:
                kind = "ttfb"
            elif type(metric) is ProcessingMetricsData:
                kind = "processing"
            else:
                continue
            if metric.value <= 0:
                continue
            self._bus.publish(
                ServiceMetric(
                    self._call,
                    service=service_label(data.source),
                    metric=kind,
                    seconds=metric.value,
                    model=metric.model,
                )
            )
