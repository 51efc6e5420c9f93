import ctypes
import gc
import sys

# The imports below (the CDK's, tens of MB of objects) build what lives as long as the process, hardly any of it
# garbage: the cyclic collector would walk it again and again while it is built, and then in every full collection that
# a backfill's stream of short-lived records and answers triggers. Built without collections, then frozen: no
# collection walks it at all. The package's `__init__` imports nothing, so these are the process's first imports.
_collecting = gc.isenabled()
gc.disable()
from airbyte_cdk.entrypoint import launch  # noqa: E402

from .cdk_internals import set_stdout_flush_interval  # noqa: E402
from .source import SourceXOrganicAnalytics  # noqa: E402

gc.freeze()
if _collecting:
    gc.enable()

# The CDK's stdout buffer (also the log handler's stream) writes to the pipe at the first message after this many
# seconds. At its default of 0.1 s it holds a tenth of a second of records, three times over while flushing (the
# messages, their joined text, its UTF-8 bytes), and the busier the sync the more: a part of peak memory that grows
# with the number of records. 10 ms still batches many records per write, so output costs no more CPU (the bench's
# peak RSS and CPU figures measure both).
STDOUT_FLUSH_SECONDS = 0.01
# glibc gives each thread that allocates while another holds the lock an arena of its own, and memory freed in one is
# not reused by the others: the worker threads that read, inflate and parse X's answers each kept their peak. One
# arena keeps the year bench's peak RSS lower for no measurable CPU (figures: README, Performance).
MALLOC_ARENAS = 1
M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int) -> bool:
    """Caps glibc's malloc arenas before any worker thread starts; False where the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))


def run() -> None:
    limit_malloc_arenas(MALLOC_ARENAS)
    set_stdout_flush_interval(STDOUT_FLUSH_SECONDS)
    launch(SourceXOrganicAnalytics(), sys.argv[1:])


if __name__ == "__main__":
    run()
