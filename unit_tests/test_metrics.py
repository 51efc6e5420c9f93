"""The metric catalogue is the one list of organic_report's metrics: the schema file must say the same."""

import json
from importlib.resources import files

import pytest

from source_x_organic_analytics.metrics import (
    ADS_METRIC_GROUPS,
    ADS_METRICS,
    CATALOGUE,
    V2_TO_COLUMN,
    key_columns,
    schema_properties,
)


@pytest.mark.parametrize("stream, cursor", [("organic_report", "date"), ("organic_report_hourly", "hour")])
def test_the_schemas_metric_properties_are_the_catalogues(stream, cursor):
    schema = json.loads(files("source_x_organic_analytics").joinpath(f"schemas/{stream}.json").read_text())
    properties = schema["properties"]
    keys = key_columns(cursor)
    assert list(properties) == [*keys, *(m.column for m in CATALOGUE)]
    assert {k: v for k, v in properties.items() if k not in keys} == schema_properties()


def test_every_metric_comes_from_some_source_and_the_ads_groups_follow_the_metrics_order():
    assert all(m.ads_group or m.v2_field for m in CATALOGUE)
    assert ADS_METRIC_GROUPS == "ENGAGEMENT,VIDEO"
    assert ADS_METRICS[0] == "impressions" and "media_views" not in ADS_METRICS
    assert V2_TO_COLUMN["media_views"] == "media_views" and "clicks" not in V2_TO_COLUMN.values()
