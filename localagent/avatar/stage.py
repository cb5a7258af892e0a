"""The avatar stage: Tavus with the local avatar standing by, or the local avatar alone."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from pipecat.pipeline.service_switcher import ServiceSwitcher, ServiceSwitcherStrategyFailover
from pipecat.processors.frame_processor import FrameProcessor

from localagent.avatar.journal import TavusJournal
from localagent.avatar.local import Drawable, LocalAvatar
from localagent.avatar.tavus import TavusAvatar
from localagent.call.spoken_words import SpokenWords
from localagent.settings import Settings

__all__ = ["AvatarStage", "LocalAvatar", "avatar_kind", "create_avatar_stage"]


def avatar_kind(settings: Settings) -> str:
    """The avatar a call starts with."""
    return "tavus" if settings.wants_tavus() else "local"


@dataclass
class AvatarStage:
    processor: FrameProcessor  # what goes in the pipeline
    local: LocalAvatar
    tavus: TavusAvatar | None = None
    switcher: ServiceSwitcher[ServiceSwitcherStrategyFailover] | None = None

    @property
    def live(self) -> str:
        if self.switcher is None or self.switcher.strategy.active_service is self.local:
            return "local"
        return "tavus"

    def can_hush(self) -> bool:
        """Whether the live avatar can pause the bot's voice: a Tavus replica has no pause,
        only an interrupt."""
        return self.live == "local"

    def hush(self, on: bool) -> bool:
        """Pause (or resume) the bot's voice where it is; False when the live avatar cannot."""
        if not self.can_hush():
            return False
        self.local.hush(on)
        return True

    @property
    def reason(self) -> str:
        """Why the live avatar is the one it is, for the page and the logs."""
        if self.tavus is None:
            return "no Tavus key and replica configured"
        if self.tavus.failure_reason:
            return self.tavus.failure_reason
        if not self.tavus.is_usable:
            return "the Tavus avatar failed (see the log)"
        return "Tavus replica"


def create_local_avatar(
    settings: Settings, spoken_words: SpokenWords | None = None, face: Drawable | None = None
) -> LocalAvatar:
    return LocalAvatar(
        spoken_words=spoken_words,
        face=face,
        width=settings.avatar_width,
        height=settings.avatar_height,
        fps=settings.avatar_fps,
        render_delay_s=settings.avatar_render_delay,
        render_jitter_s=settings.avatar_render_jitter,
    )


def create_avatar_stage(
    settings: Settings,
    http: aiohttp.ClientSession,
    journal: TavusJournal,
    spoken_words: SpokenWords | None = None,
    face: Drawable | None = None,
) -> AvatarStage:
    """A fresh avatar stage for one session; with Tavus, failover to local is built in."""
    local = create_local_avatar(settings, spoken_words, face)
    if avatar_kind(settings) == "local":
        return AvatarStage(processor=local, local=local)
    assert settings.tavus_api_key is not None and settings.tavus_replica_id is not None
    tavus = TavusAvatar(
        api_key=settings.tavus_api_key.get_secret_value(),
        replica_id=settings.tavus_replica_id,
        persona_id=settings.tavus_persona_id,
        session=http,
        api_url=settings.tavus_api_url,
        journal=journal,
        video_timeout_s=settings.tavus_video_timeout,
        join_timeout_s=settings.tavus_join_timeout,
        spoken_words=spoken_words,
    )
    local.active = False  # stands by until Tavus fails
    switcher = ServiceSwitcher(
        services=[tavus, local], strategy_type=ServiceSwitcherStrategyFailover
    )
    return AvatarStage(processor=switcher, local=local, tavus=tavus, switcher=switcher)
