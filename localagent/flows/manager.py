"""pipecat's FlowManager, publishing what it does on the app's event bus.

A tool called outside its node, or one that does not exist, never reaches here: pipecat
keeps only the current node's tools registered and answers the others with "not currently
available", so the LLM asks again.

Two private FlowManager methods are overridden (`_set_node`, `_create_transition_func`),
because FlowManager has no hook for either and pipecat's observers cannot stand in: they
see `FunctionCallResultFrame`s, but through a queue per observer (`WorkerObserver`), so a
call would reach the bus after the node its result leads to, and the node a call was made
in is gone by then. Both methods are stable across pipecat 1.x, which the package pins.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

from pipecat.flows import FlowManager, NodeConfig

from localagent.events import EventBus, FunctionCalled, NodeEntered, StateChanged

__all__ = ["ObservedFlowManager"]

# Result statuses that mean the call did not take effect: pipecat's own "error" (handler
# raised, bad arguments) and the "invalid" the example flows use for failed validation.
_REFUSED = ("error", "invalid")


def _function_name(function: Any) -> str:
    if isinstance(function, dict):
        return str(function.get("function", function).get("name", "?"))
    return str(getattr(function, "name", None) or getattr(function, "__name__", "?"))


class ObservedFlowManager(FlowManager):
    def __init__(self, *, bus: EventBus, session_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bus = bus
        self._session_id = session_id
        self._global_names = tuple(_function_name(f) for f in self._global_functions)
        self._last_state: dict[str, Any] = {}

    async def _set_node(self, node_id: str, node_config: NodeConfig) -> None:
        own = tuple(_function_name(f) for f in node_config.get("functions", []))
        offered = own + tuple(n for n in self._global_names if n not in own)
        self._bus.publish(
            NodeEntered(
                self._session_id, node=node_id, previous=self.current_node, functions=offered
            )
        )
        await super()._set_node(node_id, node_config)
        self._publish_state_if_changed()

    async def _create_transition_func(self, name: str, handler: Any) -> Callable[..., Any]:
        inner = await super()._create_transition_func(name, handler)

        async def observed(params: Any) -> None:
            node, arguments = self.current_node, dict(params.arguments)
            original_callback = params.result_callback

            async def result_callback(result: Any, **kwargs: Any) -> None:
                accepted = not (isinstance(result, dict) and result.get("status") in _REFUSED)
                self._bus.publish(
                    FunctionCalled(
                        self._session_id,
                        node=node,
                        name=name,
                        arguments=arguments,
                        result=result,
                        accepted=accepted,
                    )
                )
                self._publish_state_if_changed()
                await original_callback(result, **kwargs)

            await inner(dataclasses.replace(params, result_callback=result_callback))

        return observed

    def _publish_state_if_changed(self) -> None:
        if self.state != self._last_state:
            self._last_state = copy.deepcopy(self.state)
            self._bus.publish(StateChanged(self._session_id, state=self._last_state))
