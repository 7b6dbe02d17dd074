#!/usr/bin/env bash
# Installs the Jupyter in which TFMA 0.47's viewer renders, beside the project's .venv:
#   .venv-notebook  the classic Notebook 6.5 server with ipywidgets' classic front end
#                   (requirements-notebook.lock.txt), TFMA's nbextension, and a kernel "recsys"
#                   that runs the project's .venv (so the notebook imports the pinned TFX/TFMA).
# Why a second venv: TFMA 0.47 ships its viewer only as a classic-notebook extension; the lock's
# JupyterLab 4 / Notebook 7 cannot load it, and Notebook 6.5 cannot share .venv with them.
# Needs .venv (scripts/setup.sh). Re-running is cheap: it reinstalls only when a lock file or this
# script changed.
set -euo pipefail
cd "$(dirname "$0")/.."

NB=.venv-notebook
stamp=$NB/.installed-$(cat requirements-notebook.lock.txt requirements.lock.txt scripts/notebook_setup.sh \
  notebooks/tfma_define_guard.js |
  sha256sum | cut -c1-16)
if [ -f "$stamp" ]; then
  exit 0
fi
if [ ! -x $NB/bin/python ]; then
  # The same Python 3.10 as .venv (its base interpreter), found by scripts/setup.sh.
  base=$(.venv/bin/python -c 'import os, sys
print(os.path.join(sys.base_prefix, "bin", "python%d.%d" % sys.version_info[:2]))')
  echo "creating $NB with $base" >&2
  "$base" -m venv $NB
fi
echo "installing the classic Notebook server for TFMA's viewer (requirements-notebook.lock.txt)" >&2
$NB/bin/python -m pip install -q --upgrade "pip<26" >&2
$NB/bin/python -m pip install -q -r requirements-notebook.lock.txt >&2

# TFMA's front end (widget models + its Polymer bundle) comes from the TFMA that the kernel runs
# (the stamp covers requirements.lock.txt, which pins it). Copied: the server answers 403 for a
# symlink that leaves its data directory.
tfma_static=$(.venv/bin/python -c 'import importlib.util, os  # found, not imported (TensorFlow)
print(os.path.join(importlib.util.find_spec("tensorflow_model_analysis").submodule_search_locations[0], "static"))')
rm -rf $NB/share/jupyter/nbextensions/tensorflow_model_analysis
mkdir -p $NB/share/jupyter/nbextensions
cp -r "$tfma_static" $NB/share/jupyter/nbextensions/tensorflow_model_analysis
$NB/bin/jupyter nbextension enable --sys-prefix --py widgetsnbextension >/dev/null 2>&1
$NB/bin/jupyter nbextension enable --sys-prefix tensorflow_model_analysis/extension >/dev/null 2>&1
# Guards the load of TFMA's bundle against RequireJS (why: notebooks/tfma_define_guard.js).
mkdir -p $NB/share/jupyter/nbextensions/recsys_tfma_define_guard
cp notebooks/tfma_define_guard.js $NB/share/jupyter/nbextensions/recsys_tfma_define_guard/main.js
$NB/bin/jupyter nbextension enable --sys-prefix recsys_tfma_define_guard/main >/dev/null 2>&1

# The kernel: the project's .venv. capture_fd_output=False keeps what TensorFlow's C++ code writes
# to file descriptors 1/2 out of the notebook (it goes to the server's log, as `recsys run` sends
# it to its log file); Python-level warnings are filtered by the notebook's first cell.
mkdir -p $NB/share/jupyter/kernels/recsys
cat > $NB/share/jupyter/kernels/recsys/kernel.json <<EOF
{
  "argv": ["$PWD/.venv/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}",
           "--IPKernelApp.capture_fd_output=False"],
  "display_name": "Python 3 (recsys .venv)",
  "language": "python",
  "env": {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
}
EOF
rm -f $NB/.installed-* && touch "$stamp"
