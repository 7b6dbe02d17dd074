#!/usr/bin/env bash
# One command from a fresh clone: set up .venv, then run the quick suite and the end-to-end
# pipeline test. Extra arguments go to pytest (e.g. -m "not e2e" for the quick suite alone).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest -q -ra "$@"
