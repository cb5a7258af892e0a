"""What may leave the machine (`egress.py`) and keeping secrets out of logs (`redact.py`)."""
