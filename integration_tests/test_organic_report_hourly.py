"""`organic_report_hourly` end to end: the console script against the X emulator, checked against its truth, in both
`api` modes; an incremental sync re-reads only its look-back; the hours of a day sum to that day's organic_report row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest

from integration_tests import e2e_support as e2e
from integration_tests.x_emulator import EmulatorServer, build_dataset, truth, v2_users
from integration_tests.x_emulator.metrics import ALL_METRICS

# The emulator's data clock is never ahead of the connector's own, the real one (see e2e.current_hour); the connector
# reads up to the real last complete hour, which the emulator at NOW answers with zeros.
LATER = e2e.current_hour()
NOW = LATER - dt.timedelta(hours=1)
TODAY = NOW.date()
HOURLY = "organic_report_hourly"
HOUR = dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def ds():
    return build_dataset(today=TODAY)


def hourly(run: e2e.CliRun) -> dict:
    records = run.records(HOURLY)
    got = e2e.organic_by_key(records, "hour")
    assert len(records) == len(got), "an (account, tweet, hour) row was emitted twice in one sync"
    return got


def stats_windows(emu: EmulatorServer) -> set[tuple[str, dt.datetime, dt.datetime, str]]:
    """(account, start, end, granularity) of every stats request and job creation."""
    return {
        (r.path.rsplit("/", 1)[-1], e2e.parse_x_time(r.query["start_time"]), e2e.parse_x_time(r.query["end_time"]),
         r.query["granularity"])
        for r in e2e.stats_requests(emu)
    }  # fmt: skip


def last_hour_read(ds, account_id: str, end: dt.date) -> dt.datetime:
    """The start of the last hour read: the end of `end` in the account's zone, or the last complete hour."""
    account = ds.account(account_id)
    return min(e2e.day_start_utc(end + dt.timedelta(days=1), account.timezone, LATER), LATER) - HOUR


@pytest.mark.parametrize("days, jobs", [(3, False), (60, True)])
def test_an_ads_api_sync_equals_the_truth_in_whole_hour_windows(ds, days, jobs, tmp_path):
    start = TODAY - dt.timedelta(days=days)
    with EmulatorServer(ds, now=NOW) as emu:
        endpoint = "jobs" if jobs else "auto"  # auto reads a few days synchronously
        config = emu.oauth1_config(start_date=start, end_date=TODAY, stats_endpoint=endpoint)
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog([HOURLY]))
        windows = stats_windows(emu)
        created_jobs = [r for r in emu.requests if r.method == "POST" and r.path.startswith(e2e.JOBS_PATH_PREFIX)]
    assert run.returncode == 0, run.describe()
    expected = truth.organic_report_hourly(ds, start, TODAY, now=NOW)
    assert expected, "an empty truth proves nothing"
    assert hourly(run) == expected
    assert {granularity for *_, granularity in windows} == {"HOUR"}
    longest = max(end - begin for _, begin, end, _ in windows)
    assert longest == (dt.timedelta(days=45) if jobs else dt.timedelta(days=days + 1))
    assert bool(created_jobs) is jobs
    for account in ds.readable_accounts():
        # Starts at X's local midnight of start_date (the one organic_report's days start at).
        first = min(begin for a, begin, _, _ in windows if a == account.id)
        assert first == e2e.day_start_utc(start, account.timezone, NOW), account.timezone
    assert run.final_stream_state(HOURLY) == {
        a.id: {"hour": e2e.x_time(last_hour_read(ds, a.id, TODAY))} for a in ds.readable_accounts()
    }


def test_an_incremental_sync_rereads_only_its_lookback_and_loses_nothing(ds, tmp_path):
    start, lookback = TODAY - dt.timedelta(days=10), 1
    with EmulatorServer(ds, now=NOW) as emu:
        config = emu.oauth1_config(start_date=start, lookback_window_days=lookback)
        first = e2e.run_cli(tmp_path / "first", "read", config, e2e.catalog([HOURLY]))
    assert first.returncode == 0, first.describe()
    saved = first.final_stream_state(HOURLY)

    state = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": HOURLY}, "stream_state": saved}}]
    with EmulatorServer(ds, now=LATER) as emu:
        config = emu.oauth1_config(start_date=start, lookback_window_days=lookback)
        second = e2e.run_cli(tmp_path / "second", "read", config, e2e.catalog([HOURLY]), state)
        windows = stats_windows(emu)
    assert second.returncode == 0, second.describe()

    expected_second: dict = {}
    for account in ds.readable_accounts():
        rereads_from = e2e.parse_x_time(saved[account.id]["hour"]) - dt.timedelta(days=lookback)
        assert min(begin for a, begin, _, _ in windows if a == account.id) == rereads_from, account.timezone
        expected_second.update(
            {k: v for k, v in truth.organic_report_hourly(ds, start, TODAY, [account.id], now=LATER).items()
             if e2e.parse_x_time(k[2]) >= rereads_from}
        )  # fmt: skip
    got_second = hourly(second)
    assert got_second == expected_second

    union = {**hourly(first), **got_second}
    assert union == truth.organic_report_hourly(ds, start, TODAY, now=LATER)
    assert second.final_stream_state(HOURLY) == {
        a.id: {"hour": e2e.x_time(last_hour_read(ds, a.id, TODAY))} for a in ds.readable_accounts()
    }


def test_the_hours_of_a_day_sum_to_that_days_organic_report_row_in_the_accounts_zone(ds, tmp_path):
    account = next(a for a in ds.readable_accounts() if a.timezone not in ("UTC", "Etc/UTC"))
    start, end = TODAY - dt.timedelta(days=5), TODAY - dt.timedelta(days=1)
    with EmulatorServer(ds, now=NOW) as emu:
        config = emu.oauth1_config(start_date=start, end_date=end, account_ids=[account.id])
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["organic_report", HOURLY]))
    assert run.returncode == 0, run.describe()
    daily, hours = e2e.organic_by_key(run.records("organic_report")), hourly(run)
    assert daily and hours
    first_day_start = e2e.day_start_utc(start, account.timezone, NOW)

    sums: dict[tuple[str, str, str], dict[str, int | None]] = defaultdict(dict)
    for (account_id, tweet_id, hour), values in hours.items():
        # The report day whose 24 hours hold this one: X's days start at local midnight with today's offset.
        day = start + dt.timedelta(days=(e2e.parse_x_time(hour) - first_day_start) // dt.timedelta(days=1))
        total = sums[(account_id, tweet_id, day.isoformat())]
        for metric in ALL_METRICS:
            value = values[metric]
            total[metric] = None if value is None else (total.get(metric) or 0) + value
    assert dict(sums) == daily


def test_an_hourly_job_window_x_refuses_is_read_in_halves_and_loses_nothing(ds, tmp_path):
    """X documents no longest HOUR job: one refused with INVALID_TIME_WINDOW is split until X takes it."""
    longest = dt.timedelta(days=20)

    def refuse_long_jobs(req):
        if req.method != "POST" or not req.path.startswith(e2e.JOBS_PATH_PREFIX):
            return None
        if e2e.parse_x_time(req.params["end_time"]) - e2e.parse_x_time(req.params["start_time"]) <= longest:
            return None
        return e2e.x_error(400, "INVALID_TIME_WINDOW", "The time window may not exceed 20 days for HOUR granularity")

    account = ds.readable_accounts()[0]
    start = TODAY - dt.timedelta(days=50)
    with e2e.RefusingEmulator(ds, now=NOW, answer=refuse_long_jobs) as emu:
        config = emu.oauth1_config(start_date=start, end_date=TODAY, account_ids=[account.id], stats_endpoint="jobs")
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog([HOURLY]))
        accepted = [w for w in stats_windows(emu) if w[2] - w[1] <= longest]
    assert run.returncode == 0, run.describe()
    assert hourly(run) == truth.organic_report_hourly(ds, start, TODAY, [account.id], now=NOW)
    assert accepted
    warnings = [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"]
    assert any("reading that range in two halves" in w for w in warnings), warnings


def v2_rows(records: list[dict], cursor: str) -> dict:
    """v2 mode's rows keyed like its truth, with the metric columns X API v2 gives (the others are null, dropped)."""
    keys = ("account_id", "tweet_id", cursor, "placement")
    return {(r["account_id"], r["tweet_id"], r[cursor]): {c: v for c, v in r.items() if c not in keys} for r in records}


def test_an_x_api_v2_sync_equals_the_truth_and_its_hours_sum_to_the_zones_calendar_days(ds, tmp_path):
    zone, start = "Europe/Berlin", TODAY - dt.timedelta(days=9)
    with EmulatorServer(ds, now=NOW) as emu:
        config = e2e.config_for(
            emu, "oauth1.0a", api="x_api_v2", x_api_base_url=emu.base_url, timezone=zone, start_date=start
        )
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["organic_report", HOURLY]))
        user = emu.ds.account(emu.v2_me_account_id)
        analytics = [r for r in emu.requests if r.path == "/2/tweets/analytics"]
        ads_api_requests = [r for r in emu.requests if r.path.startswith("/12/")]
    assert run.returncode == 0, run.describe()
    assert ads_api_requests == []
    assert {r.query["granularity"] for r in analytics} == {"hourly"}
    expected = v2_users.truth_organic_report_hourly(ds, user, start, e2e.local_today(zone), zone, NOW)
    assert expected, "an empty truth proves nothing"
    hours = v2_rows(run.records(HOURLY), "hour")
    assert len(hours) == len(run.records(HOURLY))
    assert hours == expected

    sums: dict = defaultdict(lambda: defaultdict(int))
    for (account_id, tweet_id, hour), values in hours.items():
        day = e2e.parse_x_time(hour).astimezone(ZoneInfo(zone)).date().isoformat()
        for column, value in values.items():
            sums[(account_id, tweet_id, day)][column] += value
    assert {k: dict(v) for k, v in sums.items()} == v2_rows(run.records("organic_report"), "date")


def test_discover_offers_the_hourly_stream_in_both_modes(ds, tmp_path):
    with EmulatorServer(ds, now=NOW) as emu:
        ads = e2e.run_cli(tmp_path / "ads", "discover", emu.oauth1_config())
        v2 = e2e.run_cli(
            tmp_path / "v2", "discover", e2e.config_for(emu, "oauth1.0a", api="x_api_v2", x_api_base_url=emu.base_url)
        )
    for run in (ads, v2):
        streams = {s["name"]: s for s in run.of_type("CATALOG")[0]["catalog"]["streams"]}
        assert streams[HOURLY]["source_defined_primary_key"] == [["account_id"], ["tweet_id"], ["hour"]]
        assert streams[HOURLY]["default_cursor_field"] == ["hour"]


def test_every_streams_catalog_is_the_default_one_with_the_hourly_stream():
    """The standard tests read full_catalog.json: it must not drift from the default catalog."""
    default = json.loads(e2e.CATALOG_PATH.read_text())["streams"]
    full = json.loads(e2e.FULL_CATALOG_PATH.read_text())["streams"]
    assert [s for s in full if s["stream"]["name"] != HOURLY] == default
    assert HOURLY not in {s["stream"]["name"] for s in default}
