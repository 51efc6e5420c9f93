#!/usr/bin/env bash
# The project's one test command: sets up .venv if needed, lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
marker=()
if ! docker info >/dev/null 2>&1; then
  echo "No Docker engine runs here: deselecting the CDK's Docker image tests (-m 'not image_tests')."
  marker=(-m "not image_tests")
fi
# --dist loadfile keeps each test file on one worker: its module-scoped emulators start once.
exec .venv/bin/python -m pytest "${marker[@]}" -n 2 --dist loadfile "$@"
