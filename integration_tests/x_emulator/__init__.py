"""A local emulator of the X Ads API v12 (the parts an organic-analytics connector uses), plus its ground truth.

from integration_tests.x_emulator import EmulatorServer, build_dataset, truth
ds = build_dataset(today=datetime.date(2026, 11, 26))
with EmulatorServer(ds) as emu:
    config = emu.oauth1_config()
    expected = truth.organic_report(ds, start, end, now=emu.now)
"""

from . import truth
from .dataset import Dataset, build_dataset
from .faults import FaultConfig
from .server import EmulatorServer, RequestRecord
from .truth import accounts, organic_report, organic_report_v2, scheduled_tweets, tweets
from .v2 import V2_FIELDS, V2_ONLY_FIELDS, V2_TO_ADS

__all__ = [
    "V2_FIELDS",
    "V2_ONLY_FIELDS",
    "V2_TO_ADS",
    "Dataset",
    "EmulatorServer",
    "FaultConfig",
    "RequestRecord",
    "accounts",
    "build_dataset",
    "organic_report",
    "organic_report_v2",
    "scheduled_tweets",
    "truth",
    "tweets",
]
