#!/usr/bin/env bash
# Creates .venv with the connector and its test tools, once; later runs only check that it is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import source_x_organic_analytics, pytest, requests_mock" 2>/dev/null; then
  echo "Setting up .venv (first run only) ..."
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -qq --upgrade pip
  # the same dependency versions as the image (requirements.lock), plus the test tools
  .venv/bin/python -m pip install -qq -e ".[tests]" --constraint requirements.lock
fi
