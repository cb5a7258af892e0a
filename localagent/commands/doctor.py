"""`python -m localagent doctor`: every check a first run depends on, each failure with its fix.

It looks, it never changes anything: packages and versions, CUDA for CTranslate2, the
models on disk, Ollama (reachable, version, model pulled, tool support), the Tavus key and
replica (only when a key is set), the port, the data dir, the flow, the config file, and
what the browser needs. The exit status is 1 when any check is an error.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata as md
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict

import aiohttp

from localagent.commands.check import Check
from localagent.commands.model_checks import (
    check_cuda,
    check_hardware,
    check_model_servers,
    check_models,
    check_ollama,
)
from localagent.errors import LocalAgentError
from localagent.settings import Settings
from localagent.settings_loader import load_settings

__all__ = ["HELP", "Check", "add_arguments", "run", "run_checks"]


# distribution -> (minimum version or "", what it is for)
_PACKAGES = {
    "pipecat-ai": ("1.14", "the pipeline, transports and flows"),
    "faster-whisper": ("", "speech recognition"),
    "ctranslate2": ("", "whisper's inference engine"),
    "piper-tts": ("", "speech synthesis"),
    "aiortc": ("", "WebRTC"),
    "onnxruntime": ("", "Silero VAD and smart-turn"),
    "textual": ("", "the terminal UI"),
}


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_python() -> list[Check]:
    v = sys.version_info
    ok = v >= (3, 11)
    return [
        Check(
            "Python",
            "ok" if ok else "error",
            f"{v.major}.{v.minor}.{v.micro} at {sys.executable}",
            "" if ok else "install Python 3.11 or newer",
        )
    ]


def check_packages() -> list[Check]:
    checks = []
    for dist, (minimum, purpose) in _PACKAGES.items():
        try:
            version = md.version(dist)
        except md.PackageNotFoundError:
            checks.append(
                Check(dist, "error", f"not installed ({purpose})", "pip install -e '.[models]'")
            )
            continue
        if minimum and _version_tuple(version) < _version_tuple(minimum):
            checks.append(
                Check(dist, "error", f"{version}, need {minimum}+", f"pip install -U '{dist}'")
            )
        else:
            checks.append(Check(dist, "ok", f"{version} ({purpose})"))
    try:
        stale = md.version("pipecat-ai-flows")
    except md.PackageNotFoundError:
        pass
    else:
        checks.append(
            Check(
                "pipecat-ai-flows",
                "warn",
                f"{stale} installed: deprecated, flows now ship inside pipecat",
                "pip uninstall pipecat-ai-flows",
            )
        )
    return checks


async def check_tavus(settings: Settings) -> list[Check]:
    if not settings.tavus_configured:
        return [Check("Tavus", "skip", "no TAVUS_API_KEY: the local avatar will speak")]
    if not settings.tavus_replica_id:
        return [
            Check(
                "Tavus",
                "warn",
                "TAVUS_API_KEY is set but TAVUS_REPLICA_ID is not: the local avatar will speak",
                "set TAVUS_REPLICA_ID to one of your replicas (Tavus dashboard > Replicas)",
            )
        ]
    if settings.offline:
        return [Check("Tavus", "skip", "--offline: Tavus is not used")]
    assert settings.tavus_api_key is not None
    url = f"{settings.tavus_api_url.rstrip('/')}/replicas/{settings.tavus_replica_id}"
    headers = {"x-api-key": settings.tavus_api_key.get_secret_value()}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=8)) as http,
            http.get(url, headers=headers) as resp,
        ):
            body = await resp.json(content_type=None) if resp.status == 200 else {}
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as e:
        return [
            Check(
                "Tavus",
                "error",
                f"cannot reach {settings.tavus_api_url} ({type(e).__name__})",
                "check the network or TAVUS_API_URL; calls will use the local avatar",
            )
        ]
    fixes = {
        401: ("the API key was rejected (401)", "check TAVUS_API_KEY (Tavus dashboard > API keys)"),
        402: ("the account is out of credits (402)", "add conversational credits"),
        404: (
            f"replica {settings.tavus_replica_id} not found (404)",
            "check TAVUS_REPLICA_ID (Tavus dashboard > Replicas)",
        ),
    }
    if status in fixes:
        detail, fix = fixes[status]
        return [Check("Tavus", "error", detail, fix)]
    if status != 200:
        return [Check("Tavus", "error", f"Tavus answered HTTP {status}", "try again later")]
    name = body.get("replica_name", "?")
    state = body.get("status", "?")
    ready = state in ("completed", "ready", "?")
    return [
        Check(
            "Tavus",
            "ok" if ready else "warn",
            f"key valid; replica {settings.tavus_replica_id} '{name}' ({state})",
            "" if ready else "wait until the replica finishes training",
        )
    ]


def check_port(settings: Settings) -> list[Check]:
    from localagent.web.port import check_port_free

    try:
        check_port_free(settings.host, settings.port)
    except LocalAgentError as e:
        return [Check("port", "error", e.message, e.fix)]
    return [Check("port", "ok", f"{settings.host}:{settings.port} is free")]


def check_data_dir(settings: Settings) -> list[Check]:
    """Doctor looks and changes nothing: an absent data dir is created at the first run."""
    from localagent.data_dir import SESSIONS_DB
    from localagent.data_dir import check_data_dir as usable

    where = settings.data_dir
    if not where.exists():
        return [Check("data dir", "info", f"{where} (created at the first run)")]
    try:
        usable(where, sessions=settings.record_sessions)
    except LocalAgentError as e:
        return [Check("data dir", "error", e.message, e.fix)]
    free_mb = shutil.disk_usage(where).free / 1e6
    database = where / SESSIONS_DB
    size = (
        f"; sessions database {database.stat().st_size / 1e6:.1f} MB" if database.exists() else ""
    )
    if free_mb < 100:
        return [
            Check(
                "data dir",
                "warn",
                f"{where}: only {free_mb:.0f} MB free{size}",
                "free disk space: the session recorder stops writing when the disk is full",
            )
        ]
    return [Check("data dir", "ok", f"{where} is writable, {free_mb / 1000:.1f} GB free{size}")]


def check_flow(settings: Settings) -> list[Check]:
    from localagent.flows.graph import check_flow as problems_of

    problems = problems_of(settings.flow, settings.flows_dir)
    if problems:
        first = problems[0]
        return [
            Check(
                "flow",
                "error",
                f"'{settings.flow}': {first.message}"
                + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                f"python -m localagent flows check {settings.flow}",
            )
        ]
    return [Check("flow", "ok", f"'{settings.flow}' loads")]


def check_portrait(settings: Settings) -> list[Check]:
    """Whether the local avatar can animate a photo, and the configured one if any."""
    from localagent.avatar.landmarks import PortraitError, landmarker_missing, load_portrait

    missing = landmarker_missing()
    checks = [
        Check(
            "portrait avatar",
            "info" if missing else "ok",
            f"cannot find faces in new photos: {missing}"
            if missing
            else "dlib finds the face in a photo (68 landmarks, no download)",
            "pip install -e '.[portrait]' (or put a landmarks file beside the photo)"
            if missing
            else "",
        )
    ]
    if settings.avatar_image is not None:
        try:
            _, landmarks = load_portrait(
                settings.avatar_image, settings.data_dir / "avatar" / "landmarks"
            )
        except PortraitError as e:
            checks.append(Check("avatar image", "error", e.message, e.fix))
        else:
            checks.append(
                Check(
                    "avatar image",
                    "ok",
                    f"{settings.avatar_image}: a face {landmarks.face_width:.0f} px wide",
                )
            )
    return checks


def check_privacy() -> list[Check]:
    """The model libraries' offline and no-telemetry switches, as they see them."""
    from localagent.privacy.egress import NO_TELEMETRY_ENV, USER_SET_ENV

    seen = {name: os.environ.get(name) for name in NO_TELEMETRY_ENV}
    shown = ", ".join(f"{name}={value}" for name, value in seen.items())
    changed = [n for n, v in seen.items() if v != NO_TELEMETRY_ENV[n]]
    if not changed:
        return [Check("privacy", "ok", f"model libraries offline, no telemetry: {shown}")]
    by_user = [n for n in changed if n in USER_SET_ENV]
    return [
        Check(
            "privacy",
            "warn",
            f"{', '.join(changed)} not as localagent sets them ({shown})"
            + ("; you set them" if by_user else ""),
            f"unset {' '.join(changed)} so the libraries stay offline and quiet",
        )
    ]


def check_config() -> list[Check]:
    from localagent.settings_loader import check_config_file

    try:
        path = check_config_file()
    except LocalAgentError as e:
        return [Check("config file", "error", e.message, e.fix)]
    return [
        Check("config file", "ok" if path else "info", str(path) if path else "none (defaults)")
    ]


def check_lan(settings: Settings) -> list[Check]:
    """Bound beyond loopback: who can reach it, its certificate, and the limits in force."""
    from localagent.web.guard import is_loopback_host
    from localagent.web.limits import Limits
    from localagent.web.tls import certificate_summary, reachable_at

    if is_loopback_host(settings.host):
        return [Check("LAN", "info", f"bound to {settings.host}: only this machine can reach it")]
    where = ", ".join(reachable_at(settings.host)) or settings.host
    checks = [
        Check(
            "LAN",
            "info",
            f"bound to {settings.host}: other machines can reach https://HOST:{settings.port}/ "
            f"as {where}, with the per-run token the start-up prints",
        )
    ]
    cert = settings.tls_cert or settings.data_dir / "tls" / "cert.pem"
    if cert.is_file():
        try:
            made = "" if settings.tls_cert else "self-signed, "
            checks.append(Check("certificate", "ok", f"{cert}: {made}{certificate_summary(cert)}"))
        except (OSError, ValueError) as e:
            checks.append(Check("certificate", "error", f"{cert} is not a PEM certificate ({e})"))
    else:
        checks.append(
            Check("certificate", "info", f"a self-signed one is made at the first start ({cert})")
        )
    limits = Limits(
        connections=settings.lan_connections_per_address,
        offers_per_minute=settings.lan_offers_per_minute,
        failed_tokens=settings.lan_failed_tokens,
    )
    checks.append(
        Check(
            "limits",
            "info",
            f"{limits.describe()}; a request (and the TLS handshake) within "
            f"{settings.http_request_timeout:g} s",
        )
    )
    return checks


def check_browser(settings: Settings) -> list[Check]:
    checks = []
    found = [
        b for b in ("chromium", "google-chrome", "firefox", "microsoft-edge") if shutil.which(b)
    ]
    checks.append(
        Check(
            "browser",
            "info",
            f"found {', '.join(found)}" if found else "no browser on PATH (any modern one works)",
            "",
        )
    )
    return checks


def run_checks(settings: Settings) -> list[Check]:
    sync_checks: list[Callable[[], list[Check]]] = [
        check_python,
        check_packages,
        lambda: check_cuda(settings),
        lambda: check_hardware(settings),
        lambda: check_models(settings),
        lambda: check_flow(settings),
        lambda: check_portrait(settings),
        check_config,
        check_privacy,
        lambda: check_port(settings),
        lambda: check_lan(settings),
        lambda: check_data_dir(settings),
    ]
    checks = [c for check in sync_checks for c in check()]

    async def remote() -> list[Check]:
        ollama, servers, tavus = await asyncio.gather(
            check_ollama(settings), check_model_servers(settings), check_tavus(settings)
        )
        return ollama + servers + tavus

    return checks + asyncio.run(remote()) + check_browser(settings)


_MARKS = {"ok": "ok", "warn": "WARN", "error": "ERROR", "skip": "skip", "info": "info"}


HELP = "check everything a run needs and say how to fix what is missing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    checks = run_checks(load_settings())  # invalid settings: one line and exit 2, as anywhere
    failed = any(c.status == "error" for c in checks)
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
        return 1 if failed else 0
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{_MARKS[c.status]:<6}{c.name:<{width + 2}}{c.detail}")
        if c.fix:
            print(f"{'':<{width + 8}}fix: {c.fix}")
    errors = sum(c.status == "error" for c in checks)
    warns = sum(c.status == "warn" for c in checks)
    print(f"\n{errors} error(s), {warns} warning(s)." + ("" if failed else " Ready to run."))
    return 1 if failed else 0
