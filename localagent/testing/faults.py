"""Make the loaded whisper model or Piper voice raise on chosen calls, in a test run.

Run the app with `install_from_env()` applied first (see `app_process.run_app(faults=...)`):
LOCALAGENT_FAULT_WHISPER="1" makes the first transcription after start-up raise,
LOCALAGENT_FAULT_PIPER="2,3" the second and third syntheses. The models themselves are
real; only the chosen calls fail, the way a CUDA out-of-memory or a corrupt voice would.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["Faulty", "install_from_env"]


class Faulty:
    """A proxy that raises on the chosen calls of one method and delegates the rest."""

    def __init__(self, target: Any, method: str, fail_on: set[int]) -> None:
        self._target, self._method, self._fail_on, self.calls = target, method, fail_on, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name != self._method:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls in self._fail_on:
                raise RuntimeError(f"injected {self._method} failure #{self.calls}")
            return attr(*args, **kwargs)

        return call


def _calls(name: str) -> set[int]:
    value = os.environ.get(f"LOCALAGENT_FAULT_{name}", "")
    return {int(n) for n in value.split(",") if n.strip()}


def install_from_env() -> None:
    import localagent.call.engines as engines_module

    load = engines_module.load_engines

    def load_with_faults(settings: Any) -> Any:
        engines = load(settings)  # warm-up calls happen before the proxies count
        engines.whisper = Faulty(engines.whisper, "transcribe", _calls("WHISPER"))  # type: ignore[assignment]
        engines.piper = Faulty(engines.piper, "synthesize", _calls("PIPER"))  # type: ignore[assignment]
        return engines

    engines_module.load_engines = load_with_faults
