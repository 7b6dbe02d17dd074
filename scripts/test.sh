#!/usr/bin/env bash
# One command from a fresh clone: set up .venv, then run the quick suite and the end-to-end
# pipeline test. Extra arguments go to pytest (e.g. -m "not e2e" for the quick suite alone).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The browser tests (tests/browser.py): Debian's Chromium, driven headless by Playwright, and the
# Jupyter of scripts/notebook.sh, in which they open the evaluation notebook.
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium for the browser tests" >&2
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  $apt_get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq chromium >&2
fi
scripts/notebook_setup.sh
# Two pytest workers (pytest-xdist): most tests, the e2e pipeline runs included, keep one core
# busy, so on a 2-core machine one process leaves the other core idle. --dist loadfile keeps a
# file's tests in one worker, so a module fixture (one pipeline run shared by a file's e2e tests)
# still runs once; --no-loadscope-reorder hands files out in the order tests/conftest.py gives
# them (slowest first). TEST_WORKERS=0 runs everything in this process (e.g. to use a debugger).
exec .venv/bin/python -m pytest -q -ra --durations=40 -n "${TEST_WORKERS:-2}" --dist loadfile \
  --no-loadscope-reorder "$@"
