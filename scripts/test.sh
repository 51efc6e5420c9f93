#!/usr/bin/env bash
# The project's one test command: sets up .venv if needed, lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The CDK's own image tests (marker image_tests, from its standard test suite) are always deselected: they build with
# buildx and download their Dockerfile template from GitHub, neither of which CI has. The project's own image test
# (integration_tests/test_image.py) builds and runs the image from this repository's Dockerfile instead.
# --dist loadfile keeps each test file on one worker: its module-scoped emulators start once.
exec .venv/bin/python -m pytest -m "not image_tests" -n 2 --dist loadfile "$@"
