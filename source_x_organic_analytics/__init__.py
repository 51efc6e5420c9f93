from .source import SourceXOrganicAnalytics

__all__ = ["SourceXOrganicAnalytics"]
