#!/usr/bin/env bash
# Creates .venv with Python 3.10 (TFX 1.16 needs <3.11) and installs the project from the lock
# file, so pip never re-resolves TFX's dependency graph. Re-running is cheap: it reinstalls only
# when pyproject.toml or requirements.lock.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for cand in "${PYTHON:-}" python3.10; do
    if [ -n "$cand" ] && command -v "$cand" >/dev/null 2>&1 && \
       "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for p in "$(pyenv root)"/versions/3.10.*/bin/python; do
      [ -x "$p" ] && { echo "$p"; return 0; }
    done
  fi
  return 1
}

PY=$(find_python) || {
  echo "error: Python 3.10 not found (tried \$PYTHON, python3.10 on PATH, pyenv versions 3.10.*)." >&2
  echo "TFX 1.16, the newest TFX with Linux wheels, requires Python 3.10: install it" >&2
  echo "(e.g. 'pyenv install 3.10.13') or set PYTHON=/path/to/python3.10." >&2
  exit 1
}

stamp=.venv/.installed-$(cat pyproject.toml requirements.lock.txt | sha256sum | cut -c1-16)
if [ -f "$stamp" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $PY" >&2
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade "pip<26" >&2
echo "installing dependencies from requirements.lock.txt (a few minutes the first time)" >&2
.venv/bin/python -m pip install -q -r requirements.lock.txt >&2
.venv/bin/python -m pip install -q --no-deps -e . >&2
rm -f .venv/.installed-* && touch "$stamp"
