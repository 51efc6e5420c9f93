"""Performance benchmark of the connector against the local X Ads API emulator: `python -m bench.run --help`."""
