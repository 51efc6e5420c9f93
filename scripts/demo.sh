#!/usr/bin/env bash
# The one-command demo: sets up .venv if needed, then syncs the bundled X API emulator (offline) with the real
# connector CLI into .demo/x_organic.sqlite and prints a summary. DEMO_DIR=path writes the outputs elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# exec: Ctrl-C and kill reach Python directly, whose try/finally stops the emulator and the connector.
exec .venv/bin/python -m demo.run_demo
