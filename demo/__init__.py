"""The one-command demo: `bash scripts/demo.sh` (see demo/run_demo.py)."""
