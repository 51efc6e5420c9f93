"""The CDK floor: a trivial Airbyte source that emits a given number of copies of given records, with no HTTP.

`python -m bench.floor_source read --config floor.json --catalog catalog.json` runs it through the same
`airbyte_cdk.entrypoint.launch` path as the connector's console script. The config names, per stream, template
records (a sample of the connector's real records) and how many records to emit:

    {"streams": {"organic_report": {"templates": [{...}, ...], "count": 12345}, ...}}

Each record is a shallow copy of the next template (cycling), so the CDK serialises records of the same shapes and
sizes as the connector's; what this source spends per record is what the CDK itself costs (message building,
serialisation, stdout), the floor any CDK connector pays.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from airbyte_cdk.entrypoint import launch
from airbyte_cdk.models import ConnectorSpecification, SyncMode
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream


class FloorStream(Stream):
    primary_key = None

    def __init__(self, name: str, templates: list[Mapping[str, Any]], count: int):
        self._name = name
        self._templates = [dict(t) for t in templates]
        self._count = count

    @property
    def name(self) -> str:
        return self._name

    def get_json_schema(self) -> Mapping[str, Any]:
        return {"type": "object", "properties": {}}

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        templates, n = self._templates, len(self._templates)
        for i in range(self._count):
            yield dict(templates[i % n])


class FloorSource(AbstractSource):
    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecification(connectionSpecification={"type": "object"})

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        return [
            FloorStream(name, spec["templates"], int(spec["count"])) for name, spec in config.get("streams", {}).items()
        ]


def main() -> None:
    launch(FloorSource(), sys.argv[1:])


if __name__ == "__main__":
    main()
