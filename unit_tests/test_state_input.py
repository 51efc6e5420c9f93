"""Saved states of shapes the CDK fails on, through the real entrypoint: what is usable is kept, the rest is logged
and ignored, and the sync runs."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

import pytest
from airbyte_cdk.models import (
    AirbyteGlobalState,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    ConfiguredAirbyteCatalogSerializer,
    StreamDescriptor,
    SyncMode,
)
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, _run_command, read
from airbyte_cdk.test.state_builder import StateBuilder

from .conftest import account, as_dicts, make_config, tweet

SAVED = {"abc1": {"date": "2026-11-20"}}
# With the saved state, the sync resumes 3 look-back days before it; without, it starts at `start_date`.
RESUMED_FROM, STARTED_OVER_FROM = "2026-11-17", "2026-11-10"
CONFIG = make_config(start_date="2026-11-10", end_date="2026-11-23")


@pytest.fixture
def one_account(fake_x):
    fake_x.accounts = [account("abc1")]
    fake_x.tweets = {"abc1": [tweet(1, datetime(2026, 3, 1, tzinfo=timezone.utc))]}
    return fake_x


def catalog():
    return CatalogBuilder().with_stream("organic_report", SyncMode.incremental).build()


def read_with_raw_state(source, raw_state: Any, tmp_path) -> EntrypointOutput:
    """`read` through the real entrypoint with a state file of any JSON shape (the CDK's `read` helper only writes
    a list of well-formed messages)."""
    files = {"config": CONFIG, "catalog": ConfiguredAirbyteCatalogSerializer.dump(catalog()), "state": raw_state}
    for name, content in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content))
    args = ["read", *(a for name in files for a in (f"--{name}", str(tmp_path / f"{name}.json")))]
    return _run_command(source, args)


def first_day(output: EntrypointOutput) -> str:
    assert not output.errors, [e.trace.error.internal_message for e in output.errors]
    return min(r["date"] for r in as_dicts(output))


def stream_message(stream_state: Any) -> dict[str, Any]:
    return {"type": "STREAM", "stream": {"stream_descriptor": {"name": "organic_report"}, "stream_state": stream_state}}


def test_a_legacy_dict_as_the_whole_state_is_read_as_per_stream_states(one_account, source, tmp_path):
    output = read_with_raw_state(source, {"organic_report": SAVED}, tmp_path)
    assert first_day(output) == RESUMED_FROM
    assert output.is_in_logs("legacy format")


@pytest.mark.parametrize("stream_state", [["2026-11-20"], "2026-11-20", 7])
def test_a_stream_state_that_is_not_an_object_is_ignored_with_a_log_line(one_account, source, tmp_path, stream_state):
    output = read_with_raw_state(source, [stream_message(stream_state)], tmp_path)
    assert first_day(output) == STARTED_OVER_FROM
    assert output.is_in_logs("Ignoring the saved state of stream organic_report")


@pytest.mark.parametrize("raw_state", ["organic_report", 42, ["not a message"], [{"type": "SOMETHING"}]])
def test_a_state_file_of_no_known_shape_is_ignored_with_a_log_line(one_account, source, tmp_path, raw_state):
    output = read_with_raw_state(source, raw_state, tmp_path)
    assert first_day(output) == STARTED_OVER_FROM
    assert output.is_in_logs("Ignoring")


def test_the_usable_messages_of_a_mixed_state_are_kept(one_account, source, tmp_path):
    tweets_state = {"type": "STREAM", "stream": {"stream_descriptor": {"name": "tweets"}, "stream_state": "page 3"}}
    output = read_with_raw_state(source, [tweets_state, "junk", stream_message(SAVED)], tmp_path)
    assert first_day(output) == RESUMED_FROM


def test_a_global_state_with_a_shared_part_keeps_its_stream_states(one_account, source):
    global_state = AirbyteStateMessage(
        type=AirbyteStateType.GLOBAL,
        global_=AirbyteGlobalState(
            shared_state=AirbyteStateBlob({"cdc_offset": 1}),
            stream_states=[
                AirbyteStreamState(
                    stream_descriptor=StreamDescriptor(name="organic_report"), stream_state=AirbyteStateBlob(SAVED)
                )
            ],
        ),
    )
    output = read(source, CONFIG, catalog(), [global_state])
    assert first_day(output) == RESUMED_FROM
    assert output.is_in_logs("Ignoring the shared part of a GLOBAL saved state")


def test_a_future_state_clamped_is_never_written_back_past_end_date(one_account, source):
    state = StateBuilder().with_stream_state("organic_report", {"abc1": {"date": "2031-01-01"}}).build()
    output = read(source, CONFIG, catalog(), state)
    assert not output.errors
    assert output.most_recent_state.stream_state.__dict__ == {"abc1": {"date": "2026-11-23"}}  # CONFIG's end_date
    assert output.is_in_logs(re.escape("is in the future (2031-01-01); treating it as 2026-11-23"))
