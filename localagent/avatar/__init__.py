"""The avatar stage: Tavus when configured, otherwise the local avatar."""

from __future__ import annotations

import aiohttp
from pipecat.processors.frame_processor import FrameProcessor

from localagent.avatar.local import LocalAvatar
from localagent.settings import Settings

__all__ = ["LocalAvatar", "avatar_kind", "create_avatar"]


def avatar_kind(settings: Settings) -> str:
    return "tavus" if settings.wants_tavus() else "local"


def create_avatar(settings: Settings, http: aiohttp.ClientSession | None) -> FrameProcessor:
    """A fresh avatar processor for one session."""
    if avatar_kind(settings) == "tavus":
        from pipecat.services.tavus.video import TavusVideoService
        from pipecat.transports.tavus.transport import TavusApi

        assert settings.tavus_api_key is not None and settings.tavus_replica_id is not None
        assert http is not None, "the Tavus avatar needs an aiohttp session"
        # pipecat reads the API base from a class attribute; it is one URL per process.
        TavusApi.BASE_URL = settings.tavus_api_url.rstrip("/")
        return TavusVideoService(
            api_key=settings.tavus_api_key.get_secret_value(),
            replica_id=settings.tavus_replica_id,
            persona_id=settings.tavus_persona_id,
            session=http,
        )
    return LocalAvatar(
        width=settings.avatar_width, height=settings.avatar_height, fps=settings.avatar_fps
    )
