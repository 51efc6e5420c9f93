from .accounts import Accounts
from .organic_report import OrganicReport
from .organic_report_hourly import OrganicReportHourly
from .scheduled_tweets import ScheduledTweets
from .tweets import Tweets

__all__ = ["Accounts", "OrganicReport", "OrganicReportHourly", "ScheduledTweets", "Tweets"]
