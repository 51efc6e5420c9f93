"""airbyte-cdk's standard connector tests (spec, check, discover, basic_read, full_refresh), against the emulator.

acceptance-test-config.yml names config files in integration_tests/acceptance/; this module writes them for an
emulator it starts on a free port (the suite reads them only when a test runs), so that two runs of the suite on one
machine do not collide. The invalid config is the OAuth 1.0a one with credentials X refuses, against the same
emulator: `check` must fail on them, not on a closed port. The OAuth 2.0 config carries an access token minted here:
the suite runs the connector several times with one file, and X's single-use refresh tokens could serve only one
run (rotation itself is tested in test_end_to_end.py and unit_tests/test_auth.py).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from integration_tests.e2e_support import refresh_once
from integration_tests.x_emulator import EmulatorServer, build_dataset
from source_x_organic_analytics import SourceXOrganicAnalytics

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]

ACCEPTANCE_DIR = Path(__file__).parent / "acceptance"


def _minted_oauth2_config(emu: EmulatorServer) -> dict:
    config = emu.oauth2_config(start_date=None, end_date=None)
    credentials = config["credentials"]
    token = refresh_once(config)
    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=token["expires_in"])
    credentials.update(
        access_token=token["access_token"], refresh_token=token["refresh_token"], token_expiry_date=expiry.isoformat()
    )
    return config


def _refused_oauth1_config(emu: EmulatorServer) -> dict:
    config = emu.oauth1_config()
    config["credentials"].update(consumer_secret="wrong-secret", access_token_secret="wrong-token-secret")
    return config


@pytest.fixture(scope="module", autouse=True)
def emulator():
    # The suite reads the default 90 days several times: more synchronous stats requests than X allows in one
    # 15-minute window. Rate limiting is tested elsewhere; here the limits are lifted so the suite does not wait.
    unlimited = {"stats_sync": 1_000_000, "accounts_list": 1_000_000}
    ds = build_dataset(today=dt.datetime.now(dt.timezone.utc).date())
    with EmulatorServer(ds, rate_limits=unlimited) as emu:
        ACCEPTANCE_DIR.mkdir(exist_ok=True)
        # The default date range (90 days to today) is what a new user gets, so that is what is read here.
        configs = {
            "oauth1_config.json": emu.oauth1_config(),
            "oauth2_config.json": _minted_oauth2_config(emu),
            "invalid_config.json": _refused_oauth1_config(emu),
        }
        for name, config in configs.items():
            config.pop("start_date"), config.pop("end_date")
            (ACCEPTANCE_DIR / name).write_text(json.dumps(config, indent=2))
        yield emu


class TestSourceXOrganicAnalytics(SourceTestSuiteBase):
    connector = SourceXOrganicAnalytics

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return Path(__file__).parent.parent
