from datetime import date

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_x_organic_analytics.config import MAX_ACCOUNT_IDS, parse_config, short_list

from .conftest import make_config, oauth2_credentials

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


# -- URLs that receive credentials: https, or http to this machine only ------------------------------------------


@pytest.mark.parametrize("field", ["api_base_url", "x_api_base_url"])
def test_plain_http_to_a_remote_host_is_refused_naming_the_field(field):
    message = error_of(**{field: "http://ads-api.x.com"}).message
    assert f"`{field}` must use https" in message


def test_plain_http_token_endpoint_is_refused_naming_the_field():
    credentials = {**oauth2_credentials(), "token_refresh_endpoint": "http://api.x.com/2/oauth2/token"}
    assert "`credentials.token_refresh_endpoint` must use https" in error_of(credentials=credentials).message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://127.5.0.1", "http://localhost:9000", "http://[::1]:8080"]
)
def test_plain_http_to_a_loopback_emulator_is_accepted(url):
    credentials = {**oauth2_credentials(), "token_refresh_endpoint": f"{url}/2/oauth2/token"}
    parsed = parse_config(make_config(api_base_url=url, x_api_base_url=url, credentials=credentials), today=TODAY)
    assert (parsed.api_base_url, parsed.x_api_base_url) == (url, url)


@pytest.mark.parametrize(
    "url, problem",
    [
        ("https://ads-api.x.com?debug=1", "has a query"),
        ("https://ads-api.x.com/#top", "has a query (`?…`) or a fragment"),
        ("https://user:s3cr3t@ads-api.x.com", "contains a user name or password"),
        ("https://ads-api.x.com\n", "contains whitespace or a control character"),
        (" https://ads-api.x.com", "contains whitespace or a control character"),
        ("https://ads api.x.com", "contains whitespace or a control character"),
        ("ftp://ads-api.x.com", "must be an https URL"),
        ("https://", "must be an https URL"),
        ("https://ads-api.x.com:99999", "is not a valid URL"),
        ("http://10.0.0.1", "must use https"),
    ],
)
@pytest.mark.parametrize("field", ["api_base_url", "x_api_base_url", "credentials.token_refresh_endpoint"])
def test_malformed_urls_are_refused_naming_the_field(field, url, problem):
    if field.startswith("credentials."):
        message = error_of(credentials={**oauth2_credentials(), "token_refresh_endpoint": url}).message
    else:
        message = error_of(**{field: url}).message
    assert f"`{field}` " in message and problem in message
    assert "s3cr3t" not in message  # user info is never echoed


# -- account_ids: bounded, and messages that stay short -----------------------------------------------------------


def test_more_account_ids_than_the_cap_are_refused_with_a_short_message():
    message = error_of(account_ids=[f"a{i}" for i in range(10_000)]).message
    assert f"`account_ids` lists 10000 accounts; at most {MAX_ACCOUNT_IDS} are allowed" in message
    assert len(message) < 300


def test_as_many_account_ids_as_the_cap_are_accepted():
    ids = [f"a{i}" for i in range(MAX_ACCOUNT_IDS)]
    assert parse_config(make_config(account_ids=ids), today=TODAY).account_ids == tuple(ids)


def test_many_malformed_account_ids_are_named_a_few_at_a_time():
    message = error_of(account_ids=[f"BAD-{i}" for i in range(150)] + ["x" * 5000]).message
    assert "'BAD-0', 'BAD-1', 'BAD-2', 'BAD-3', 'BAD-4' and 146 more" in message
    assert len(message) < 400


def test_short_list_names_the_first_ids_and_counts_the_rest():
    assert short_list(["a", "b"]) == "a, b"
    assert short_list([str(i) for i in range(8)], shown=3) == "0, 1, 2 and 5 more"


# -- dates before X existed -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["start_date", "end_date"])
@pytest.mark.parametrize("value", ["0001-01-01", "2006-03-20"])
def test_dates_before_x_existed_are_refused_naming_the_field(field, value):
    overrides = {"start_date": "2006-03-21", "end_date": "2026-11-01", field: value}
    assert f"`{field}` {value} is before X existed" in error_of(**overrides).message


def test_x_first_day_is_accepted():
    parsed = parse_config(make_config(start_date="2006-03-21", end_date="2006-03-21"), today=TODAY)
    assert parsed.start_date == parsed.end_date == date(2006, 3, 21)
