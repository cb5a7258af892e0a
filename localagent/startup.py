"""Starting the app: load what every call shares, then serve with the TUI or plain logs."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loguru import logger

from localagent.privacy.redact import redact
from localagent.recorder import Recorder, RecorderHealth
from localagent.settings import Settings
from localagent.web.cockpit import (
    CockpitInfo,
    remove_cockpit_file,
    write_cockpit_file,
)
from localagent.web.guard import is_loopback_host, new_token
from localagent.web.port import check_port_free
from localagent.web.state import AppState
from localagent.web.tls import tls_files

if TYPE_CHECKING:
    from localagent.tui.app import LocalAgentApp

__all__ = ["build_state", "make_server", "make_tui", "publish_cockpit", "run_app"]


async def build_state(settings: Settings) -> tuple[AppState, Recorder | None]:
    """Flow, port, models, Ollama, orphaned Tavus conversations, bus and recorder."""
    from localagent.avatar.journal import TavusJournal, end_orphaned_conversations
    from localagent.avatar.portraits import Portraits
    from localagent.call.engines import load_engines
    from localagent.data_dir import SESSIONS_DB, check_data_dir
    from localagent.events import EventBus, RecorderStatus
    from localagent.flows.loader import load_flow
    from localagent.llm.flow_needs import flow_needs
    from localagent.memory import limit_malloc_arenas
    from localagent.ollama_status import probe_llm
    from localagent.privacy.egress import install_egress_guard, policy_for
    from localagent.runtime import Runtime
    from localagent.store import SessionStore

    limit_malloc_arenas()
    policy = policy_for(settings)
    flow = load_flow(settings.flow, settings.flows_dir)
    check_port_free(settings.host, settings.port)
    check_data_dir(settings.data_dir, sessions=settings.record_sessions)
    loopback = is_loopback_host(settings.host)
    tls = tls_files(
        settings.tls_cert,
        settings.tls_key,
        bind_host=settings.host,
        loopback=loopback,
        data_dir=settings.data_dir,
    )
    if tls is not None:
        made = f"self-signed, made for this machine ({tls.cert})" if tls.self_signed else tls.cert
        logger.info(f"HTTPS with {made}; SHA-256 fingerprint {tls.fingerprint}")
    logger.info(f"flow '{flow.name}' loaded from {flow.path}")
    logger.info("loading models...")
    engines = await asyncio.to_thread(load_engines, settings)
    needs = flow_needs(flow.name, flow.flow)
    ollama = await probe_llm(settings, needs=needs)
    preload: asyncio.Task[None] | None = None
    if ollama.refuses_calls:
        logger.error(f"{ollama.problem} Fix: {ollama.fix}")
    elif ollama.ok and settings.llm_url is not None:
        logger.info(f"the LLM server at {settings.llm_url} has {settings.llm_model}")
    elif ollama.ok:
        logger.info(f"Ollama {ollama.version} at {settings.ollama_host} has {settings.llm_model}")
        preload = asyncio.create_task(_load_llm(settings), name="ollama-load")
    else:
        logger.warning(f"{ollama.problem} fix: {ollama.fix}")
    for note in ollama.notes:
        logger.warning(f"LLM: {note}")
    journal = TavusJournal(settings.data_dir / "tavus-conversations.json")
    key = settings.tavus_api_key.get_secret_value() if settings.tavus_api_key else None
    await end_orphaned_conversations(journal, key)
    bus = EventBus()
    install_egress_guard(policy, bus)
    recorder = None
    if settings.record_sessions:
        store = SessionStore(settings.data_dir / SESSIONS_DB)
        if crashed := store.mark_crashed():
            logger.warning(f"{crashed} session(s) left open by an earlier run marked crashed")

        def tell(health: RecorderHealth) -> None:
            bus.publish(RecorderStatus("", ok=health.ok, description=health.describe()))

        recorder = Recorder(store, on_health=tell)
        bus.subscribe(recorder)
    portraits = Portraits(settings.data_dir, settings.avatar_image)
    await asyncio.to_thread(portraits.load)
    runtime = Runtime(
        settings=settings,
        engines=engines,
        flow=flow,
        journal=journal,
        bus=bus,
        portraits=portraits,
        needs=needs,
    )
    runtime.probed(ollama.capabilities)
    token = new_token() if settings.require_token or not loopback else None
    limits = None
    if not loopback:
        from localagent.web.limits import AddressLimits, Limits

        limits = AddressLimits(
            Limits(
                connections=settings.lan_connections_per_address,
                offers_per_minute=settings.lan_offers_per_minute,
                failed_tokens=settings.lan_failed_tokens,
            )
        )
        logger.info(f"limits beyond loopback: {limits.limits.describe()}")
    state = AppState(
        runtime=runtime, ollama=ollama, token=token, recorder=recorder, tls=tls, limits=limits
    )
    if preload is not None:
        state.tasks.add(preload)  # cancelled with the sessions at shutdown
        preload.add_done_callback(state.tasks.discard)
    return state, recorder


async def _load_llm(settings: Settings) -> None:
    """Have Ollama load the model while the server starts, so no call waits for it."""
    from localagent.ollama_status import load_model

    seconds = await load_model(settings.ollama_host, settings.llm_model)
    if seconds is not None:
        logger.info(f"Ollama has {settings.llm_model} loaded ({seconds:.1f}s)")


async def run_app(settings: Settings, *, use_tui: bool, log_level: str) -> None:
    early: list[tuple[str, str]] = []  # start-up's lines, for the TUI's log panel
    if use_tui:
        from localagent.tui.messages import log_line

        logger.add(lambda m: early.append(log_line(m.record)), level=log_level.upper())
    state, recorder = await build_state(settings)
    server, url = make_server(state)

    async def announce() -> None:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.05)
        publish_cockpit(state, url())
        # Tests and scripts wait for this exact line.
        print(f"localagent ready: open {url()}", file=sys.stderr, flush=True)

    try:
        if use_tui:
            await _run_tui(state, server, url, log_level, early)
        else:
            announcer = asyncio.create_task(announce())
            try:
                await server.serve()
            finally:
                announcer.cancel()
    finally:
        remove_cockpit_file(settings.data_dir, state.cockpit_token)
        if recorder is not None:
            recorder.close()


def make_tui(
    state: AppState,
    server: Any,
    url: Callable[[], str],
    early_log: list[tuple[str, str]] | None = None,
) -> LocalAgentApp:
    """The TUI app, serving `server` inside its own event loop until asked to quit."""
    from localagent.controls import AppControls
    from localagent.tui.app import LocalAgentApp

    done = asyncio.Event()

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        try:
            while not server.started and not task.done():  # noqa: ASYNC110 - a flag
                await asyncio.sleep(0.05)
            app.set_url(url())
            publish_cockpit(state, url())
            await task
        finally:
            done.set()

    async def stop() -> None:
        server.should_exit = True
        await done.wait()

    controls = AppControls(state)
    app = LocalAgentApp(
        url=url(),
        bus=state.runtime.bus,
        controls=controls,
        services=controls.services(),
        fixes=controls.fixes(),
        early_log=early_log,
        serve=serve,
        shutdown=stop,
    )
    return app


def publish_cockpit(state: AppState, url: str) -> None:
    """Where `python -m localagent tui` finds this server, and its token (this user only)."""
    info = CockpitInfo(
        url=url.split("?")[0],
        token=state.cockpit_token,
        pid=os.getpid(),
        page_token=state.token,
        tls_cert=str(state.tls.cert) if state.tls else None,
    )
    try:
        write_cockpit_file(state.settings.data_dir, info)
    except OSError as e:
        logger.warning(f"cannot write the cockpit file, `localagent tui` cannot attach: {e}")


def make_server(state: AppState) -> tuple[Any, Callable[[], str]]:
    """The uvicorn server for the app, and a function giving its URL once it listens."""
    import uvicorn

    from localagent.web.http_protocol import timed_h11
    from localagent.web.server import create_app

    settings = state.settings
    context = None
    if state.tls is not None:  # TLS is started by the protocol, its handshake bounded
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(state.tls.cert), str(state.tls.key))
    config = uvicorn.Config(
        create_app(state),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="on",
        http=timed_h11(settings.http_request_timeout, context, state.limits),
        timeout_keep_alive=5,
    )
    server = uvicorn.Server(config)

    def url() -> str:
        servers = getattr(server, "servers", None)  # exists once it has started
        port = servers[0].sockets[0].getsockname()[1] if servers else settings.port
        host = settings.host if ":" not in settings.host else f"[{settings.host}]"
        query = f"?token={state.token}" if state.token else ""
        scheme = "https" if state.tls else "http"
        return f"{scheme}://{host}:{port}/{query}"

    return server, url


def _write_stderr(message: str) -> None:
    sys.stderr.write(redact(message))


async def _run_tui(
    state: AppState,
    server: Any,
    url: Callable[[], str],
    log_level: str,
    early_log: list[tuple[str, str]],
) -> None:
    app = make_tui(state, server, url, early_log)
    logger.remove()
    logger.add(app.log_sink, level=log_level.upper(), diagnose=False)
    try:
        await app.run_async()
    finally:
        logger.remove()
        logger.add(
            _write_stderr,
            level=log_level.upper(),
            format="{time:HH:mm:ss.SSS} | {level: <7} | {message}",
            diagnose=False,
        )
        server.should_exit = True
