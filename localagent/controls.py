"""What the TUI may see and change in the running app: what each service runs on, the flow
for the next call, and the live call through its own methods (restart its flow, hang up,
mute the bot). The in-process TUI calls it directly; an attached one through the server."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from loguru import logger

from localagent.flows.loader import load_flow
from localagent.ollama_status import OllamaStatus, describe_llm

if TYPE_CHECKING:
    from localagent.web.state import AppState

__all__ = ["AppControls"]


class AppControls:
    def __init__(self, state: AppState) -> None:
        self._state = state

    def services(self) -> dict[str, str]:
        """What each service runs on, as the services panel starts."""
        s, e = self._state.settings, self._state.runtime.engines
        ollama = self._state.ollama or OllamaStatus(ok=True)
        recorder = self._state.recorder
        return {
            "LLM": describe_llm(ollama, s),
            "STT": e.describe_stt(),
            "TTS": e.describe_tts(),
            "turn": e.turn_stop.describe(),
            "avatar": self.avatar(),
            "recorder": recorder.health.describe() if recorder else "off",
            **({"HTTPS": self._tls()} if self._state.tls else {}),
        }

    def _tls(self) -> str:
        tls = self._state.tls
        assert tls is not None
        kind = "self-signed" if tls.self_signed else str(tls.cert)
        return f"{kind}, SHA-256 {tls.fingerprint}"

    def fixes(self) -> dict[str, str]:
        """The fix for each service that is down now."""
        ollama = self._state.ollama
        return {"LLM": ollama.fix} if ollama and not ollama.ok else {}

    def avatar(self) -> str:
        """The avatar's line: which one, and which face it shows."""
        tavus = self._state.settings.wants_tavus()
        return ("Tavus (local on standby)" if tavus else "local") + self._face()

    def _face(self) -> str:
        portraits = self._state.runtime.portraits
        if portraits.current is not None:
            return f" · portrait {portraits.current.path.name}"
        if portraits.problem is not None:
            return f" · drawn face ({portraits.problem.message})"
        return " · drawn face"

    def flow_names(self) -> list[str]:
        folder = self._state.settings.flows_dir
        return sorted({p.stem for s in ("*.yaml", "*.yml", "*.json") for p in folder.glob(s)})

    def current_flow(self) -> tuple[str, list[str]]:
        flow = self._state.runtime.flow
        return flow.name, list(flow.flow.config.nodes)

    async def switch_flow(self, name: str) -> tuple[str, list[str]]:
        """Load `name` for calls that start from now on (raises FlowLoadError)."""
        loaded = load_flow(name, self._state.settings.flows_dir)
        self._state.runtime = dataclasses.replace(self._state.runtime, flow=loaded)
        logger.info(f"next calls use the flow '{loaded.name}'")
        return self.current_flow()

    async def restart_flow(self) -> bool:
        """Send the newest live call back to its flow's first node with empty state."""
        call = self._state.calls.newest_live()
        return call is not None and await call.restart_flow()

    async def toggle_bot_mute(self) -> bool | None:
        """Mute or unmute the newest live call's bot: its new state, None with no call."""
        call = self._state.calls.newest_live()
        if call is None or not call.mute_bot(not call.bot_muted):
            return None
        return call.bot_muted

    async def hang_up(self) -> bool:
        """End the newest live call, as if the browser had left."""
        call = self._state.calls.newest_live()
        if call is None:
            return False
        await call.hang_up("hung up from the TUI")
        return True
