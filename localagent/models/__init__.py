"""Models: finding them on disk (`resolve.py`), the manifest of known ones, downloading
(`fetch.py`) and the `models` command (`cli.py`)."""
