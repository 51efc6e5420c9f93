#!/usr/bin/env bash
# Creates .venv with the connector and its test tools, once; later runs only check that it is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
# The distribution's name is part of the check: a .venv made before its rename holds the old one.
installed='import importlib.metadata as m, source_x_organic_analytics, pytest, requests_mock
m.version("airbyte-source-x-organic-analytics")'
# -I: what .venv has installed, not a build's *.egg-info in this directory
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -I -c "$installed" 2>/dev/null; then
  echo "Setting up .venv (first run only) ..."
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -qq --upgrade pip
  .venv/bin/python -m pip uninstall -qq -y source-x-organic-analytics 2>/dev/null || true  # the name before the rename
  # the same dependency versions as the image (requirements.lock), plus the test tools
  .venv/bin/python -m pip install -qq -e ".[tests]" --constraint requirements.lock
fi
