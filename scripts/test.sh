#!/usr/bin/env bash
# Set up a virtual environment with the dev extra and run the linters and the test suite.
#   scripts/test.sh           the full suite, on two workers (its real calls mostly wait)
#   scripts/test.sh --quick   the quick tier: no app, browser, terminal or real-time call
# Extra arguments go to pytest. The browser tests need Debian chromium (/usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=""
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
.venv/bin/ruff check .
.venv/bin/mypy
if [ -n "$quick" ]; then
  exec .venv/bin/python -m pytest -q -m "not slow" "$@"
fi
exec .venv/bin/python -m pytest -q -n "${LOCALAGENT_TEST_WORKERS:-2}" --dist loadfile "$@"
