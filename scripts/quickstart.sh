#!/usr/bin/env bash
# One command from a fresh clone: set up .venv, then run the whole TFX pipeline on the embedded
# synthetic e-commerce data. Extra arguments go to `recsys run` (e.g. --set train.epochs=5).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/recsys run "$@"
