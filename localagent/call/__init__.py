"""One call: its life (`call.py`), its stage order (`pipeline.py`), the services and shared
model engines it runs on, how whisper decodes, when a turn ends, and its latency figures."""
