import gc
import sys

from airbyte_cdk.entrypoint import launch

from .cdk_internals import set_stdout_flush_interval
from .source import SourceXOrganicAnalytics

# The CDK's stdout buffer (also the log handler's stream) writes to the pipe at the first message after this many
# seconds. At its default of 0.1 s it holds up to ~2 MB of records, three times over while flushing (the messages,
# their joined text, its UTF-8 bytes), and the busier the sync the more: the part of peak memory that grew with the
# number of records. 10 ms still batches ~100 records per write, so output costs no more CPU.
STDOUT_FLUSH_SECONDS = 0.01


def run() -> None:
    set_stdout_flush_interval(STDOUT_FLUSH_SECONDS)
    # What the imports built (~35 MB of objects) lives as long as the process: frozen, it is no longer walked by
    # every full collection that a backfill's stream of short-lived records and answers triggers.
    gc.freeze()
    launch(SourceXOrganicAnalytics(), sys.argv[1:])


if __name__ == "__main__":
    run()
