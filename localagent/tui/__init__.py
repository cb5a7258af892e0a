"""The Textual TUI: watches the event bus, never pipecat."""
