"""A token pasted with a trailing line break, through the installed CLI against the emulator (a real HTTP stack).

Before the config refused it, http.client rejected the `Authorization` header and its exception quoted the token,
escaped (`b'Bearer …\\n'`), into the TRACE message, its stack trace and the logs, where the secret filter, which knew
only the raw value, did not recognise it."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest

from integration_tests import e2e_support as e2e
from integration_tests.x_emulator import EmulatorServer, build_dataset

PASTED = "at-Hv5Nc2Xe8Jb4Lq7"


@pytest.mark.parametrize("oauth", ["oauth2.0", "oauth1.0a"])
def test_an_access_token_with_a_trailing_line_break_is_refused_naming_the_field_and_never_shown(tmp_path, oauth):
    value = f"{PASTED}\n"
    ds = build_dataset(today=dt.date.today(), tweets_per_account=2, days=10)
    with EmulatorServer(ds) as emu:
        config = e2e.config_for(emu, oauth)
        config["credentials"]["access_token"] = value
        if oauth == "oauth2.0":  # an access token still valid is sent as is, without a refresh first
            config["credentials"]["token_expiry_date"] = "2099-01-01T00:00:00+00:00"
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["accounts"]))
        requests_sent = emu.requests.snapshot()

    assert run.returncode != 0
    assert requests_sent == [], "a request left before the config was validated"
    assert run.error_traces and all(t["failure_type"] == "config_error" for t in run.error_traces), run.describe()
    assert "`credentials.access_token` starts or ends with whitespace" in run.error_traces[0]["message"]
    for form in (value, PASTED, repr(value)[1:-1], quote(value, safe="")):
        assert form not in run.stdout, f"stdout shows {form!r}"
        assert form not in run.stderr, f"stderr shows {form!r}"
