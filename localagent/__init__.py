"""localagent: local-first AI video chat built on Pipecat."""

__version__ = "0.1.0"
