"""Conversation flows: loading them (`loader.py`), the FlowManager that reports what it does
(`manager.py`), and their graph (`graph.py`)."""
