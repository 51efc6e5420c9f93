#!/usr/bin/env bash
# The project's one test command: sets up .venv if needed, lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# No Docker engine runs on the project's machines, so the CDK's Docker image tests are deselected here.
exec .venv/bin/python -m pytest -m "not image_tests" -n 2 "$@"
