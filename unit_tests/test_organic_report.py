"""organic_report against the requests-mock fake: which tweets, which requests, which records, which state."""

from datetime import date, datetime, timedelta, timezone

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.state_builder import StateBuilder

from source_x_organic_analytics.metrics import ADS_METRICS as METRICS
from source_x_organic_analytics.streams.ads_stats import bucket_records
from source_x_organic_analytics.streams.organic_report import sanitize_state
from source_x_organic_analytics.windows import DayWindow

from .conftest import BASE, account, as_dicts, error_body, make_config, tweet

OLD = datetime(2026, 3, 1, tzinfo=timezone.utc)


# These tests pin the synchronous endpoint (7-day windows); test_stats_jobs.py covers asynchronous jobs.
pytestmark = pytest.mark.usefixtures("synchronous_endpoint")


MID_RANGE = datetime(2026, 11, 18, 12, tzinfo=timezone.utc)


def catalog(sync_mode=SyncMode.incremental, *extra):
    builder = CatalogBuilder().with_stream("organic_report", sync_mode)
    for name in extra:
        builder.with_stream(name, SyncMode.full_refresh)
    return builder.build()


def impressions_by_day(tweet_id: str, start: datetime) -> dict[str, int]:
    """A value that encodes tweet and bucket start, so a record proves which request and bucket it came from."""
    return {"impressions": int(tweet_id) * 1000 + start.day, "likes": 1}


@pytest.fixture
def forty_five_tweets(fake_x):
    fake_x.accounts = [account("abc1")]
    fake_x.tweets = {"abc1": [tweet(1000 + i, OLD) for i in range(45)] + [tweet(2000, MID_RANGE)]}
    fake_x.metric = impressions_by_day
    return fake_x


def test_two_windows_of_45_tweets_take_three_requests_each_and_ask_for_old_tweets_too(forty_five_tweets, source):
    output = read(source, make_config(start_date="2026-11-10", end_date="2026-11-23"), catalog())
    calls = forty_five_tweets.stats_calls
    assert [(c["start_time"], c["end_time"]) for c in calls] == [
        ("2026-11-10T00:00:00Z", "2026-11-17T00:00:00Z")
    ] * 3 + [("2026-11-17T00:00:00Z", "2026-11-24T00:00:00Z")] * 3
    assert all(len(c["entity_ids"].split(",")) <= 20 for c in calls)
    first_window_ids = {i for c in calls[:3] for i in c["entity_ids"].split(",")}
    second_window_ids = {i for c in calls[3:] for i in c["entity_ids"].split(",")}
    assert first_window_ids == {str(1000 + i) for i in range(45)}  # months-old tweets are asked for
    assert second_window_ids == first_window_ids | {"2000"}  # the new tweet only once it exists
    for call in calls:
        assert call["entity"] == "ORGANIC_TWEET" and call["granularity"] == "DAY"
        assert call["metric_groups"] == "ENGAGEMENT,VIDEO" and call["placement"] == "ALL_ON_TWITTER"

    records = as_dicts(output)
    assert len(records) == 45 * 14 + 7
    sample = next(r for r in records if r["tweet_id"] == "1007" and r["date"] == "2026-11-12")
    assert sample["impressions"] == 1007 * 1000 + 12 and sample["likes"] == 1
    assert sample["account_id"] == "abc1" and sample["placement"] == "ALL_ON_TWITTER"
    # The CDK leaves null values out of the serialized record; a warehouse reads a missing key as null.
    assert set(sample) <= {"account_id", "tweet_id", "date", "placement", *METRICS}
    assert sample.get("retweets") is None  # X returned null for it
    assert output.most_recent_state.stream_state.__dict__ == {"abc1": {"date": "2026-11-23"}}


def test_tweets_and_report_in_one_sync_page_the_timeline_once(forty_five_tweets, source):
    read(source, make_config(start_date="2026-11-10", end_date="2026-11-23"), catalog(SyncMode.incremental, "tweets"))
    timeline_calls = [r for r in forty_five_tweets.mocker.request_history if r.path.endswith("/tweets")]
    assert len(timeline_calls) == 1


def test_days_where_every_metric_is_zero_or_null_are_not_emitted(fake_x, source):
    fake_x.accounts = [account("abc1")]
    fake_x.tweets = {"abc1": [tweet(1, OLD), tweet(2, OLD)]}
    fake_x.metric = lambda tweet_id, start: (
        None if tweet_id == "1" else ({"likes": 3} if start.day == 12 else {"likes": 0})
    )
    records = as_dicts(read(source, make_config(start_date="2026-11-10", end_date="2026-11-16"), catalog()))
    assert [(r["tweet_id"], r["date"], r["likes"]) for r in records] == [("2", "2026-11-12", 3)]


def test_a_series_with_nulls_keeps_them_null(fake_x, source):
    fake_x.accounts = [account("abc1")]
    fake_x.tweets = {"abc1": [tweet(1, OLD)]}
    fake_x.mocker.get(
        f"{BASE}/12/stats/accounts/abc1",
        json={
            "data_type": "stats",
            "time_series_length": 3,
            "data": [
                {
                    "id": "1",
                    "id_data": [{"segment": None, "metrics": {"impressions": [5, None, 7], "likes": [None, None, 1]}}],
                }
            ],
        },
    )
    records = as_dicts(read(source, make_config(start_date="2026-11-10", end_date="2026-11-12"), catalog()))
    assert [(r["date"], r.get("impressions"), r.get("likes")) for r in records] == [
        ("2026-11-10", 5, None),
        ("2026-11-12", 7, 1),
    ]


def test_bucket_records_reads_whole_number_floats_and_single_days_like_integers():
    # The fast path takes integers and nulls only; anything else must still go through metric_value, row by row.
    window = DayWindow(date(2026, 11, 10), date(2026, 11, 13), OLD, OLD)
    body = {
        "data": [
            {"id": "1", "id_data": [{"metrics": {"impressions": [0, 3.0, 0, 4], "likes": [None, 1, None, 0]}}]},
            {"id": 2, "id_data": [{"metrics": {"retweets": [0, 0, 9, 0], "likes": None}}]},
        ]
    }
    records = list(bucket_records(body, window, "abc1"))
    assert [list(r)[:5] for r in records] == [["account_id", "tweet_id", "date", "placement", METRICS[0]]] * 3
    assert [(r["tweet_id"], r["date"], r["impressions"], r["likes"], r["retweets"]) for r in records] == [
        ("1", "2026-11-11", 3, 1, None),
        ("1", "2026-11-13", 4, 0, None),
        ("2", "2026-11-12", None, None, 9),
    ]
    assert type(records[0]["impressions"]) is int


def test_a_series_of_the_wrong_length_fails_without_moving_state(fake_x, source):
    fake_x.accounts = [account("abc1")]
    fake_x.tweets = {"abc1": [tweet(1, OLD)]}
    fake_x.mocker.get(
        f"{BASE}/12/stats/accounts/abc1",
        json={"data": [{"id": "1", "id_data": [{"metrics": {"impressions": [5, 6]}}]}]},
    )
    output = read(source, make_config(start_date="2026-11-10", end_date="2026-11-12"), catalog())
    assert "malformed `impressions` series" in output.errors[0].trace.error.message
    assert output.state_messages == [] or output.most_recent_state.stream_state.__dict__ == {}


def test_windows_start_at_local_midnight_with_todays_offset(fake_x, source):
    fake_x.accounts = [account("la1", "America/Los_Angeles"), account("tok1", "Asia/Tokyo")]
    fake_x.tweets = {"la1": [tweet(1, OLD)], "tok1": [tweet(2, OLD)]}
    read(source, make_config(start_date="2026-07-01", end_date="2026-07-03"), catalog())
    starts = [(c["start_time"], c["end_time"]) for c in fake_x.stats_calls]
    # Today (26 Nov) Los Angeles is on PST (-8) although July is PDT: X's rule is today's offset.
    assert starts == [
        ("2026-07-01T08:00:00Z", "2026-07-04T08:00:00Z"),
        ("2026-06-30T15:00:00Z", "2026-07-03T15:00:00Z"),
    ]


def test_invalid_time_window_is_retried_once_with_each_days_offset_and_kept(fake_x, source, caplog):
    fake_x.accounts = [account("ber1", "Europe/Berlin")]
    fake_x.tweets = {"ber1": [tweet(1, OLD)]}
    good = fake_x._stats

    def strict(request, context):
        params = fake_x._params(request)
        if params["start_time"].endswith("T23:00:00Z"):  # CET (today's offset) for a summer day: refused here
            context.status_code = 400
            return error_body("INVALID_TIME_WINDOW", "start_time must be midnight in the account's time zone")
        return good(request, context)

    fake_x.mocker.get(f"{BASE}/12/stats/accounts/ber1", json=strict)
    output = read(source, make_config(start_date="2026-07-01", end_date="2026-07-10"), catalog())
    sent = [r.qs["start_time"][0] for r in fake_x.mocker.request_history if "/stats/" in r.path]
    assert sent == ["2026-06-30t23:00:00z", "2026-06-30t22:00:00z", "2026-07-07t22:00:00z"]
    assert not output.errors
    assert output.is_in_logs("retrying it once with each day's own UTC offset")
    assert {r["date"] for r in as_dicts(output)} == {f"2026-07-{d:02d}" for d in range(1, 11)}


def test_a_second_invalid_time_window_fails_fast(fake_x, source):
    fake_x.accounts = [account("ber1", "Europe/Berlin")]
    fake_x.tweets = {"ber1": [tweet(1, OLD)]}
    fake_x.mocker.get(f"{BASE}/12/stats/accounts/ber1", status_code=400, json=error_body("INVALID_TIME_WINDOW", "no"))
    output = read(source, make_config(start_date="2026-07-01", end_date="2026-07-10"), catalog())
    assert len([r for r in fake_x.mocker.request_history if "/stats/" in r.path]) == 2
    assert "INVALID_TIME_WINDOW" in output.errors[0].trace.error.message


def test_the_second_incremental_sync_restarts_at_the_saved_day_minus_the_lookback(forty_five_tweets, source):
    config = make_config(start_date="2026-11-10", end_date=None, lookback_window_days=3)
    first = read(source, config, catalog())
    state = first.most_recent_state.stream_state.__dict__
    assert state == {"abc1": {"date": "2026-11-26"}}  # today is read (partial) and re-read next time
    forty_five_tweets.stats_calls.clear()

    second = read(source, config, catalog(), StateBuilder().with_stream_state("organic_report", state).build())
    assert {(c["start_time"], c["end_time"]) for c in forty_five_tweets.stats_calls} == {
        ("2026-11-23T00:00:00Z", "2026-11-27T00:00:00Z")
    }
    assert sorted({r["date"] for r in as_dicts(second)}) == ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26"]
    assert second.most_recent_state.stream_state.__dict__ == state


def test_an_account_added_later_starts_at_start_date_and_old_states_are_kept(forty_five_tweets, source):
    forty_five_tweets.accounts.append(account("new1"))
    forty_five_tweets.tweets["new1"] = [tweet(9, OLD)]
    state = {"abc1": {"date": "2026-11-20"}, "removed9": {"date": "2026-10-01"}}
    output = read(
        source,
        make_config(start_date="2026-11-10", end_date="2026-11-23", account_ids=["abc1", "new1"]),
        catalog(),
        StateBuilder().with_stream_state("organic_report", state).build(),
    )
    dates = {(r["account_id"], r["date"]) for r in as_dicts(output)}
    assert min(d for a, d in dates if a == "abc1") == "2026-11-17"
    assert min(d for a, d in dates if a == "new1") == "2026-11-10"
    assert output.most_recent_state.stream_state.__dict__ == {
        "abc1": {"date": "2026-11-23"},
        "removed9": {"date": "2026-10-01"},
        "new1": {"date": "2026-11-23"},
    }


def test_full_refresh_ignores_the_state(forty_five_tweets, source):
    state = StateBuilder().with_stream_state("organic_report", {"abc1": {"date": "2026-11-20"}}).build()
    output = read(
        source, make_config(start_date="2026-11-10", end_date="2026-11-23"), catalog(SyncMode.full_refresh), state
    )
    assert min(r["date"] for r in as_dicts(output)) == "2026-11-10"


@pytest.mark.parametrize(
    "state, expected, note",
    [
        ({"a1": {"date": "2026-11-20"}}, {"a1": {"date": "2026-11-20"}}, None),
        ({"a1": {"date": "2027-05-01"}}, {"a1": {"date": "2026-11-26"}}, "in the future"),
        ({"a1": {"date": "20-11-2026"}, "b2": {"date": "2026-11-01"}}, {"b2": {"date": "2026-11-01"}}, "Ignoring"),
        ({"a1": "2026-11-20"}, {}, "Ignoring"),
        (["2026-11-20"], {}, "unexpected shape"),
        ({}, {}, None),
    ],
)
def test_state_that_makes_no_sense_is_clamped_or_dropped_with_a_log_line(state, expected, note):
    log: list[str] = []
    assert sanitize_state(state, today=date(2026, 11, 26), log=log) == expected
    assert (note is None and log == []) or (note is not None and note in log[0])


def test_a_future_state_does_not_crash_a_sync(forty_five_tweets, source):
    state = StateBuilder().with_stream_state("organic_report", {"abc1": {"date": "2031-01-01"}}).build()
    output = read(source, make_config(start_date="2026-11-10", end_date=None), catalog(), state)
    assert not output.errors
    assert min(r["date"] for r in as_dicts(output)) == "2026-11-23"  # clamped to today, minus the 3-day look-back
    assert output.is_in_logs("is in the future")


def test_a_request_never_spans_the_time_zone_switch_day(fake_x, source):
    switched = (datetime(2026, 11, 13, 5, tzinfo=timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")  # NY midnight
    fake_x.accounts = [account("ny1", "America/New_York", timezone_switch_at=switched)]
    fake_x.tweets = {"ny1": [tweet(1, OLD)]}
    read(source, make_config(start_date="2026-11-10", end_date="2026-11-20"), catalog())
    assert [(c["start_time"], c["end_time"]) for c in fake_x.stats_calls] == [
        ("2026-11-10T05:00:00Z", "2026-11-13T05:00:00Z"),
        ("2026-11-13T05:00:00Z", "2026-11-20T05:00:00Z"),
        ("2026-11-20T05:00:00Z", "2026-11-21T05:00:00Z"),
    ]


def test_no_stats_request_for_a_window_before_the_first_tweet(fake_x, source):
    fake_x.accounts = [account("abc1")]
    fake_x.tweets = {"abc1": [tweet(1, datetime(2026, 11, 20, tzinfo=timezone.utc) + timedelta(hours=1))]}
    output = read(source, make_config(start_date="2026-11-10", end_date="2026-11-23"), catalog())
    assert len(fake_x.stats_calls) == 1
    assert output.most_recent_state.stream_state.__dict__ == {"abc1": {"date": "2026-11-23"}}
