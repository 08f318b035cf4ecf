#!/usr/bin/env bash
# The one install procedure, used by `make`, by .ci/run and by docker/Dockerfile.
# Usage: scripts/install.sh VENV_DIR [extras]   (extras: "dev" for the test tools)
set -euo pipefail

venv="${1:-.venv}"
extras="${2:-}"
python="${PYTHON:-python3.11}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
# torch first and pinned: this version installs as a CPU build; an unpinned torch would pull
# a multi-GB CUDA build that a CPU-only plant server does not need.
"$venv/bin/python" -m pip install --quiet "torch==2.13.0"
if [ -n "$extras" ]; then
  "$venv/bin/python" -m pip install --quiet -e "$here[$extras]"
else
  "$venv/bin/python" -m pip install --quiet -e "$here"
fi
