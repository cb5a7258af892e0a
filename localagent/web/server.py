"""The web server: the page, pipecat's SmallWebRTC signalling, and a status endpoint.

`POST /api/offer` and `PATCH /api/offer` take and return the same JSON as pipecat's own
runner, and so do its session start (`POST /start`, then `/sessions/{id}/api/offer`;
`runner_routes.py`), so pipecat's JS client and prebuilt pages can connect too. Offers are
checked before they reach aiortc, so bad input is a 4xx with a reason, never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from loguru import logger
from pipecat.transports.smallwebrtc.request_handler import (
    IceCandidate,
    SmallWebRTCPatchRequest,
    SmallWebRTCRequest,
    SmallWebRTCRequestHandler,
)

from localagent.avatar.landmarks import PortraitError
from localagent.avatar.portraits import MAX_UPLOAD_BYTES
from localagent.avatar.stage import avatar_kind
from localagent.call.call import Call
from localagent.call.registry import CallLimitReached, CallRegistry
from localagent.events import RequestRefused, ServiceHealth
from localagent.ollama_status import OllamaStatus, probe_llm, watch_ollama
from localagent.privacy.egress import egress_counts
from localagent.recorder import Recorder
from localagent.web.cockpit import CockpitFeed, add_cockpit_routes
from localagent.web.guard import RequestGuard
from localagent.web.runner_routes import StartedSessions, add_runner_routes
from localagent.web.signalling import OfferBody, PatchBody
from localagent.web.state import AppState

__all__ = ["create_app"]

STATIC_DIR = Path(str(resources.files("localagent.web") / "static"))


def _recorder_status(recorder: Recorder | None) -> dict[str, Any]:
    if recorder is None:
        return {"enabled": False}
    health = recorder.health
    return {"enabled": True, **dataclasses.asdict(health), "description": health.describe()}


def _check_offer(body: OfferBody) -> None:
    if body.type != "offer":
        raise HTTPException(400, f"Expected an SDP of type 'offer', got '{body.type}'.")
    sdp = body.sdp.lstrip()
    if not sdp.startswith("v=0") or "\nm=" not in sdp.replace("\r\n", "\n"):
        raise HTTPException(
            400, "Malformed SDP offer: it must start with 'v=0' and contain media ('m=') lines."
        )
    if "m=audio" not in sdp:
        raise HTTPException(400, "The offer has no audio: the call needs a microphone track.")
    if "\na=fingerprint:" not in sdp.replace("\r\n", "\n"):
        raise HTTPException(
            400,
            "The offer has no DTLS fingerprint (a=fingerprint): WebRTC media must be encrypted.",
        )


async def _invalid_body(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422 echoes the input, which fails to render for NaN or lone surrogates
    (a 500): say what is wrong, without the input."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errors
    )
    safe = detail.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse({"detail": f"Invalid request: {safe or 'unreadable body'}"}, 422)


def _tab_of(request_data: Any) -> str | None:
    """The calling page's tab id: a reload sends the same one (it lives in sessionStorage)."""
    tab = request_data.get("tab") if isinstance(request_data, dict) else None
    return tab if isinstance(tab, str) and 0 < len(tab) <= 64 else None


async def _replace_calls_from(tab: str, calls: CallRegistry) -> None:
    """End the calls a reloaded page left behind, so its new call is not refused as busy.

    The browser gives the server no notice of a reload; the old peer connection would only
    be noticed dead seconds later. The tab id is random and known only to that page.
    """
    for call in calls.live():
        if call.tab == tab:
            await call.hang_up("replaced by a new call from the same page", wait=False)


async def _check_llm_can_call(state: AppState) -> None:
    """Refuse a call that cannot work (a flow with tools, a model without), with the fix,
    rather than start one where every turn is an apology. Asked again only when the last
    word (start-up, the watch, the page's poll) was a refusal."""
    if state.ollama is None or not state.ollama.refuses_calls:
        return
    status = await probe_llm(state.settings, timeout_s=1.5, needs=state.runtime.needs)
    state.ollama = status
    state.runtime.probed(status.capabilities)
    if status.refuses_calls:
        raise HTTPException(503, f"{status.problem} Fix: {status.fix}")


async def _renegotiated(_connection: object) -> None:
    """An offer for a peer connection that already has its call: nothing to start."""


def create_app(state: AppState) -> FastAPI:
    handler = SmallWebRTCRequestHandler()
    feed = CockpitFeed(state.runtime.bus)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        s = state.settings

        def changed(status: OllamaStatus) -> None:
            state.ollama = status
            state.runtime.probed(status.capabilities)

        watch = asyncio.create_task(
            watch_ollama(
                s.ollama_host,
                s.llm_model,
                state.runtime.bus,
                state.ollama,
                on_change=changed,
                settings=s,
                needs=state.runtime.needs,
            ),
            name="ollama-watch",
        )
        state.tasks.add(watch)
        watch.add_done_callback(state.tasks.discard)
        feed.start()
        sink = logger.add(feed.log, level="INFO", diagnose=False)
        yield
        with contextlib.suppress(ValueError):  # the TUI may have removed every sink
            logger.remove(sink)
        feed.close()
        await state.calls.close_all("server stopped")
        for task in list(state.tasks):
            task.cancel()
        if state.tasks:
            await asyncio.wait(state.tasks, timeout=5)
        with contextlib.suppress(TimeoutError):  # pipecat awaits each peer's close unbounded
            await asyncio.wait_for(handler.close(), 3)

    app = FastAPI(title="localagent", lifespan=lifespan, docs_url=None, redoc_url=None)

    def refused(status: int, reason: str) -> None:
        logger.warning(f"refused ({status}): {reason}")
        state.runtime.bus.publish(RequestRefused("", status=status, reason=reason))

    if state.limits is not None:

        def capped(address: str, open_now: int) -> None:
            refused(429, f"{address} holds {open_now} connections, the most one address may")

        state.limits.on_capped = capped

    app.add_middleware(
        RequestGuard,
        bind_host=state.settings.host,
        token=state.token,
        allow_origins=state.settings.allow_origin,
        trusted_proxies=state.settings.trusted_proxy,
        on_refusal=refused,
        limits=state.limits,
    )
    app.add_exception_handler(RequestValidationError, _invalid_body)
    add_cockpit_routes(app, state, feed)

    @app.post("/api/offer")
    async def offer(body: OfferBody) -> dict[str, str]:
        _check_offer(body)
        existing = body.pc_id is not None and state.calls.by_pc_id(body.pc_id) is not None
        call: Call | None = None
        if not existing:
            await _check_llm_can_call(state)
            tab = _tab_of(body.request_data)
            if tab is not None:
                await _replace_calls_from(tab, state.calls)
            try:  # counted now, before the first await: concurrent offers cannot all pass
                call = state.calls.admit(lambda on_end: Call(state.runtime, tab=tab, on_end=on_end))
            except CallLimitReached as e:
                raise HTTPException(429, str(e)) from None
        request = SmallWebRTCRequest(
            sdp=body.sdp,
            type=body.type,
            pc_id=body.pc_id,
            restart_pc=body.restart_pc,
            request_data=body.request_data,
        )
        try:
            answer = await handler.handle_web_request(
                request, call.start if call else _renegotiated
            )
        except Exception as e:  # aiortc's parsers raise plain ValueError & co. on bad SDP
            if call is not None:
                await call.hang_up(f"error: the offer failed ({type(e).__name__})", wait=False)
            if isinstance(e, HTTPException):
                raise
            name = type(e).__name__
            why = f"{name}: {e}" if str(e) else f"aiortc refused it ({name})"
            raise HTTPException(400, f"Could not accept the offer: {why}") from e
        if answer is None:
            raise HTTPException(400, "The offer produced no answer.")
        return answer

    @app.patch("/api/offer")
    async def ice_candidates(body: PatchBody) -> dict[str, str]:
        request = SmallWebRTCPatchRequest(
            pc_id=body.pc_id,
            candidates=[
                IceCandidate(c.candidate, c.sdp_mid, c.sdp_mline_index) for c in body.candidates
            ],
        )
        try:
            await handler.handle_patch_request(request)
        except HTTPException:
            raise
        except Exception as e:
            why = (
                f"{type(e).__name__}: {e}" if str(e) else f"aiortc refused it ({type(e).__name__})"
            )
            raise HTTPException(400, f"Bad ICE candidate: {why}") from e
        return {"status": "success"}

    add_runner_routes(app, StartedSessions(), offer=offer, ice_candidates=ice_candidates)

    def _face_changed() -> None:
        """The services panel's avatar line follows the page's choice of face."""
        from localagent.controls import AppControls

        avatar = AppControls(state).avatar()
        state.runtime.bus.publish(ServiceHealth("", service="avatar", ok=True, detail=avatar))

    @app.post("/api/avatar-image")
    async def choose_portrait(request: Request) -> dict[str, Any]:
        """A photo for the local avatar, from the page: kept in the data dir, used from
        the next call on; it goes nowhere else."""
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"The photo is over {MAX_UPLOAD_BYTES // 1_000_000} MB.")
        data = await request.body()
        if not data:
            raise HTTPException(400, "No photo was sent (the body is empty).")
        try:
            await asyncio.to_thread(state.runtime.portraits.choose, data)
        except PortraitError as e:
            raise HTTPException(422, f"{e.message} Fix: {e.fix}." if e.fix else e.message) from None
        _face_changed()
        return state.runtime.portraits.describe()

    @app.get("/api/avatar-poster")
    async def avatar_poster() -> Response:
        """The local avatar's face at rest, for the page's video before a call."""
        s = state.settings
        picture = await asyncio.to_thread(
            state.runtime.portraits.poster, s.avatar_width, s.avatar_height
        )
        return Response(picture, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})

    @app.delete("/api/avatar-image")
    async def forget_portrait() -> dict[str, Any]:
        await asyncio.to_thread(state.runtime.portraits.forget)
        _face_changed()
        return state.runtime.portraits.describe()

    @app.get("/api/status")
    async def status() -> dict[str, Any]:
        s, engines = state.settings, state.runtime.engines
        state.ollama = await probe_llm(s, timeout_s=1.5, needs=state.runtime.needs)
        state.runtime.probed(state.ollama.capabilities)
        capabilities = state.ollama.capabilities
        return {
            "flow": state.runtime.flow.name,
            "avatar": avatar_kind(s),
            "avatar_face": state.runtime.portraits.describe(),
            "sessions": [call.snapshot() for call in state.calls],
            "ollama": {
                "ok": state.ollama.ok,
                "host": s.ollama_host,
                "model": s.llm_model,
                "server": s.llm_url,  # an OpenAI-compatible server instead of Ollama
                "problem": state.ollama.problem,
                "fix": state.ollama.fix,
                "refuses_calls": state.ollama.refuses_calls,  # no call can work: say why
                "capabilities": dataclasses.asdict(capabilities) if capabilities else None,
                "notes": list(state.ollama.notes),
            },
            "stt": engines.describe_stt(),
            # How often the short window's result was not trusted; a count that grows with
            # most utterances means this voice or microphone needs --whisper-window-s 30.
            "whisper": {
                "window_s": engines.whisper.window_s,
                "short_decodes": engines.whisper.short_decodes,
                "fallbacks": engines.whisper.fallbacks,
            }
            if engines.whisper is not None
            else None,
            "tts": engines.describe_tts(),
            "turn_stop": engines.turn_stop.describe(),
            "offline": s.offline,
            "egress": egress_counts(),
            "recorder": _recorder_status(state.recorder),
            # For scripts/soak.py: what a leak would grow.
            "process": {
                "asyncio_tasks": len(asyncio.all_tasks()),
                "threads": threading.active_count(),
            },
        }

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
