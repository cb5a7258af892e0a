"""What the TUI may change in the running app: the flow for the next call, a restart."""

from __future__ import annotations

import dataclasses

from loguru import logger

from localagent.flows import load_flow
from localagent.server import AppState

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
        live = [s for s in self._state.sessions.values() if s.flow_manager is not None]
        if not live:
            return False
        session = live[-1]
        assert session.flow_manager is not None and session.flow is not None
        session.flow_manager.state.clear()
        await session.flow_manager.set_node_from_config(session.flow.flow.initial_node)
        logger.info(f"session {session.id}: flow restarted")
        return True
