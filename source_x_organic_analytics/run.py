import sys

from airbyte_cdk.entrypoint import launch

from .source import SourceXOrganicAnalytics


def run() -> None:
    launch(SourceXOrganicAnalytics(), sys.argv[1:])


if __name__ == "__main__":
    run()
