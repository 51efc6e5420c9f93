"""followers_history's state: informative only, so a malformed entry is dropped with a warning, never fatal."""

from __future__ import annotations

from source_x_organic_analytics.streams.followers_history import sanitize_snapshot_state


def test_well_formed_entries_are_kept_and_malformed_ones_dropped_with_a_warning():
    warnings: list[str] = []
    state = {
        "aaa": {"date": "2026-11-28"},
        "bbb": {"date": "yesterday"},
        "ccc": "2026-11-28",
        7: {"date": "2026-01-02"},
    }
    assert sanitize_snapshot_state(state, warnings.append) == {
        "aaa": {"date": "2026-11-28"},
        "7": {"date": "2026-01-02"},
    }
    assert len(warnings) == 2 and "'bbb'" in warnings[0] and "'ccc'" in warnings[1]


def test_a_state_that_is_no_mapping_starts_empty():
    assert sanitize_snapshot_state(["2026-11-28"], print) == {}
    assert sanitize_snapshot_state(None, print) == {}
