from datetime import date

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_x_organic_analytics.config import parse_config

from .conftest import make_config

TODAY = date(2026, 11, 26)


def error_of(**overrides) -> AirbyteTracedException:
    with pytest.raises(AirbyteTracedException) as raised:
        parse_config(make_config(**overrides), today=TODAY)
    assert raised.value.failure_type == FailureType.config_error
    return raised.value


def test_defaults_are_ninety_days_to_today_with_a_three_day_lookback():
    config = make_config()
    for key in ("start_date", "end_date", "lookback_window_days", "api_base_url"):
        config.pop(key)
    parsed = parse_config(config, today=TODAY)
    assert parsed.start_date == date(2026, 8, 28)
    assert parsed.end_date is None
    assert parsed.lookback_window_days == 3
    assert parsed.api_base_url == "https://ads-api.x.com"
    assert parsed.account_ids == ()


def test_end_before_start_names_both_fields():
    message = error_of(start_date="2026-11-10", end_date="2026-11-01").message
    assert "`end_date` 2026-11-01 is before `start_date` 2026-11-10" in message


def test_start_in_the_future_names_the_field():
    assert "`start_date` 2026-12-25 is in the future" in error_of(start_date="2026-12-25", end_date=None).message


def test_start_tomorrow_is_accepted_for_accounts_east_of_utc():
    assert parse_config(make_config(start_date="2026-11-27", end_date=None), today=TODAY).start_date == date(
        2026, 11, 27
    )


@pytest.mark.parametrize("bad", ["18CE-54", "", "a" * 40, "acc ount"])
def test_malformed_account_id_is_named(bad):
    message = error_of(account_ids=["18ce54d4x5t", bad]).message
    assert "`account_ids`" in message and repr(bad) in message


def test_duplicate_account_ids_are_merged():
    parsed = parse_config(make_config(account_ids=["abc1", "abc1", "def2"]), today=TODAY)
    assert parsed.account_ids == ("abc1", "def2")


@pytest.mark.parametrize("value", [-1, 31, "3", True])
def test_lookback_out_of_range(value):
    assert "`lookback_window_days`" in error_of(lookback_window_days=value).message


def test_malformed_date():
    assert "`start_date` must be a date written YYYY-MM-DD" in error_of(start_date="2026-02-30").message


def test_unknown_auth_type():
    assert "`credentials.auth_type`" in error_of(credentials={"auth_type": "basic"}).message
