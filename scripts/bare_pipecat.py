"""The baseline for `bench.py`: a bare pipecat voice bot with localagent's models.

Same SmallWebRTC signalling, whisper and Piper models (loaded once, whisper decoded the
same way), Silero VAD and end-of-turn strategy, and LLM server; no flows, no observers, no
avatar or video, no TUI, no recording. It prints the same ready line as localagent, so the
same caller and helpers drive both.

    python scripts/bare_pipecat.py --port 0 --ollama-host URL [--turn-stop smart-turn]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import uvicorn
from fastapi import FastAPI
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.request_handler import (
    SmallWebRTCRequest,
    SmallWebRTCRequestHandler,
)
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport
from pipecat.workers.runner import WorkerRunner

from localagent.call.engines import Engines, load_engines
from localagent.call.llm_service import create_llm
from localagent.call.pipeline import AUDIO_IN_RATE, AUDIO_OUT_RATE
from localagent.call.services import create_stt, create_tts
from localagent.call.turns import turn_strategies
from localagent.settings import Settings

SYSTEM = "You are a helpful assistant on a voice call. Answer in one or two short sentences."


async def run_bot(connection: SmallWebRTCConnection, settings: Settings, engines: Engines) -> None:
    transport = SmallWebRTCTransport(
        webrtc_connection=connection,
        params=TransportParams(audio_in_enabled=True, audio_out_enabled=True),
    )
    context = LLMContext([{"role": "system", "content": SYSTEM}])
    aggregators = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(
            vad_analyzer=SileroVADAnalyzer(),
            user_turn_strategies=turn_strategies(settings, engines.turn_stop).strategies,
        ),
    )
    pipeline = Pipeline(
        [
            transport.input(),
            create_stt(engines),
            aggregators.user(),
            create_llm(settings),
            create_tts(engines),
            transport.output(),
            aggregators.assistant(),
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=AUDIO_IN_RATE, audio_out_sample_rate=AUDIO_OUT_RATE
        ),
        idle_timeout_secs=None,
        enable_rtvi=False,
        enable_turn_tracking=False,
    )

    @transport.event_handler("on_client_connected")
    async def on_connected(_transport: object, _client: object) -> None:
        await worker.queue_frames([LLMRunFrame()])  # greet first, as localagent's flows do

    @transport.event_handler("on_client_disconnected")
    async def on_disconnected(_transport: object, _client: object) -> None:
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    try:
        await runner.run()
    finally:
        await connection.disconnect()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ollama-host", required=True)
    parser.add_argument("--llm-model", default="llama3.2:3b")
    # The same end-of-turn flags as localagent, with its defaults.
    parser.add_argument("--turn-stop", default=Settings.model_fields["turn_stop"].default)
    parser.add_argument("--user-speech-timeout", type=float)
    parser.add_argument("--smart-turn-stop-secs", type=float)
    parser.add_argument("--whisper-window-s", type=float)
    parser.add_argument("--no-tui", action="store_true", help="accepted for symmetry")
    args = parser.parse_args()
    settings = Settings(
        ollama_host=args.ollama_host,
        llm_model=args.llm_model,
        turn_stop=args.turn_stop,
        port=args.port,
        **{
            k: v
            for k, v in vars(args).items()
            if k in ("user_speech_timeout", "smart_turn_stop_secs", "whisper_window_s")
            and v is not None
        },
    )
    engines = load_engines(settings)
    handler = SmallWebRTCRequestHandler()
    tasks: set[asyncio.Task[None]] = set()
    app = FastAPI()

    @app.post("/api/offer")
    async def offer(request: dict[str, str]) -> dict[str, str] | None:
        async def start(connection: SmallWebRTCConnection) -> None:
            task = asyncio.create_task(run_bot(connection, settings, engines))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        return await handler.handle_web_request(
            SmallWebRTCRequest(sdp=request["sdp"], type=request["type"]), start
        )

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
    )

    async def serve() -> None:
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        print(f"localagent ready: open http://127.0.0.1:{port}/", file=sys.stderr, flush=True)
        await serving

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
