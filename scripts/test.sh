#!/usr/bin/env bash
# Set up a virtual environment with the dev extra and run the linters and the test suite.
# Extra arguments go to pytest. The browser test needs Debian chromium (/usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest -q "$@"
