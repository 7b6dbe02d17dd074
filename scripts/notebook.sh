#!/usr/bin/env bash
# Opens notebooks/evaluation.ipynb on the latest run in a Jupyter where TFMA 0.47's viewer renders
# (the classic Notebook 6.5 of .venv-notebook, kernel = .venv; see scripts/notebook_setup.sh).
# Arguments: the --set overrides given to `recsys run` (e.g. --set pipeline.output_dir=DIR), so the
# notebook finds that run's MLMD store; anything else goes to `jupyter notebook` (e.g. --no-browser,
# --port=8899). What the server and the libraries print goes to <repo>/runs/logs/notebook-*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/notebook_setup.sh

sets=()
jupyter_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --set) sets+=("$2"); shift 2 ;;
    --set=*) sets+=("${1#--set=}"); shift ;;
    *) jupyter_args+=("$1"); shift ;;
  esac
done
# Read by the notebook's second cell (shlex-split), as `recsys run --set` reads them.
RECSYS_SET=$(printf '%q ' "${sets[@]+"${sets[@]}"}")
export RECSYS_SET

log=runs/logs/notebook-$(date +%Y%m%d-%H%M%S).log
mkdir -p runs/logs
token=$(.venv-notebook/bin/python -c 'import secrets; print(secrets.token_hex(16))')
port=${NOTEBOOK_PORT:-8888}
# The classic Notebook refuses to start as root (containers, CI) unless told.
[ "$(id -u)" = 0 ] && jupyter_args+=(--allow-root)
# Jupyter opened on a file serves from that file's folder (notebooks/), so the URL has it once.
echo "TFMA viewer: http://127.0.0.1:$port/notebooks/evaluation.ipynb?token=$token" >&2
echo "(Jupyter's and TensorFlow's output goes to $log; Ctrl-C stops the server)" >&2
exec .venv-notebook/bin/jupyter notebook notebooks/evaluation.ipynb --ip=127.0.0.1 --port="$port" \
  --port-retries=0 --NotebookApp.token="$token" "${jupyter_args[@]+"${jupyter_args[@]}"}" >"$log" 2>&1
