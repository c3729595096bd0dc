#!/usr/bin/env bash
# Step 1 of action.yml: install mlvet into the runner's Python.
#   MLVET_SPEC      pip requirement (default: the action's own checkout, so the action and mlvet match)
#   MLVET_PYTHON    interpreter (default python3)
#   MLVET_PIP_ARGS  extra pip arguments (e.g. --index-url ...), split on whitespace
set -euo pipefail
python="${MLVET_PYTHON:-python3}"
spec="${MLVET_SPEC:-}"
if [ -z "$spec" ]; then
    spec="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}"
fi
read -r -a extra <<< "${MLVET_PIP_ARGS:-}"
"$python" -m pip install --disable-pip-version-check --quiet "${extra[@]}" "$spec"
