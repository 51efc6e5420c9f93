import gc

# Importing the CDK builds about a hundred thousand objects that live as long as the process, hardly any of them
# garbage: the cyclic collector, run again and again while they are built, walks them for nothing and slows every
# start-up (the bench's `spec` start-up measures it). It runs again once they are built.
_collecting = gc.isenabled()
gc.disable()
try:
    from .source import SourceXOrganicAnalytics
finally:
    if _collecting:
        gc.enable()

__all__ = ["SourceXOrganicAnalytics"]
