from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .source import SourceXOrganicAnalytics

__all__ = ["SourceXOrganicAnalytics"]


def __getattr__(name: str) -> Any:
    # The source (and the CDK under it) is imported on first use, so that the entry point (`run`) decides how its
    # imports run.
    if name == "SourceXOrganicAnalytics":
        from .source import SourceXOrganicAnalytics

        return SourceXOrganicAnalytics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
