"""The metric catalogue is the one list of organic_report's metrics: the schema file must say the same."""

import json
from importlib.resources import files

from source_x_organic_analytics.metrics import (
    ADS_METRIC_GROUPS,
    ADS_METRICS,
    CATALOGUE,
    KEY_COLUMNS,
    V2_TO_COLUMN,
    schema_properties,
)


def test_the_schemas_metric_properties_are_the_catalogues():
    schema = json.loads(files("source_x_organic_analytics").joinpath("schemas/organic_report.json").read_text())
    properties = schema["properties"]
    assert list(properties) == [*KEY_COLUMNS, *(m.column for m in CATALOGUE)]
    assert {k: v for k, v in properties.items() if k not in KEY_COLUMNS} == schema_properties()


def test_every_metric_comes_from_some_source_and_the_ads_groups_follow_the_metrics_order():
    assert all(m.ads_group or m.v2_field for m in CATALOGUE)
    assert ADS_METRIC_GROUPS == "ENGAGEMENT,VIDEO"
    assert ADS_METRICS[0] == "impressions" and "media_views" not in ADS_METRICS
    assert V2_TO_COLUMN["media_views"] == "media_views" and "clicks" not in V2_TO_COLUMN.values()
