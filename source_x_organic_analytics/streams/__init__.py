from .accounts import Accounts
from .organic_report import OrganicReport
from .scheduled_tweets import ScheduledTweets
from .tweets import Tweets

__all__ = ["Accounts", "OrganicReport", "ScheduledTweets", "Tweets"]
