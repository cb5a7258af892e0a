"""What the TUI may change in the running app: the flow for the next call, and the live
call through its own methods (restart its flow, hang up)."""

from __future__ import annotations

import dataclasses

from loguru import logger

from localagent.flows.loader import load_flow
from localagent.web.server import AppState

__all__ = ["AppControls"]


class AppControls:
    def __init__(self, state: AppState) -> None:
        self._state = state

    def flow_names(self) -> list[str]:
        folder = self._state.settings.flows_dir
        return sorted({p.stem for s in ("*.yaml", "*.yml", "*.json") for p in folder.glob(s)})

    def current_flow(self) -> tuple[str, list[str]]:
        flow = self._state.runtime.flow
        return flow.name, list(flow.flow.config.nodes)

    def switch_flow(self, name: str) -> tuple[str, list[str]]:
        """Load `name` for calls that start from now on (raises FlowLoadError)."""
        loaded = load_flow(name, self._state.settings.flows_dir)
        self._state.runtime = dataclasses.replace(self._state.runtime, flow=loaded)
        logger.info(f"next calls use the flow '{loaded.name}'")
        return self.current_flow()

    async def restart_flow(self) -> bool:
        """Send the newest live call back to its flow's first node with empty state."""
        call = self._state.calls.newest_live()
        return call is not None and await call.restart_flow()

    def toggle_bot_mute(self) -> bool | None:
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
