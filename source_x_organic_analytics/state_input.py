"""The saved state a sync starts from, reduced to what the CDK can take: per-stream states whose value is an object.

The CDK fails with a system error on any other shape (a legacy `{"<stream>": {...}}` dict as the whole state, a
GLOBAL message with a shared state, a list or a string as a stream's state), before the connector sees it. Like the
connector's other state tolerances, what can be used is kept and the rest is logged and ignored: the streams it
belonged to start again from `start_date`, which re-reads data but loses none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airbyte_cdk.models import AirbyteStateMessage, AirbyteStateMessageSerializer

Log = Callable[[str], None]


def usable_state(raw: Any, log: Log) -> list[AirbyteStateMessage]:
    """Per-stream STREAM messages from the state file's parsed JSON, whatever its shape."""
    if raw is None or raw == [] or raw == {}:
        return []
    if isinstance(raw, Mapping):
        raw = [raw] if "type" in raw else _from_legacy(raw, log)
    if not isinstance(raw, list):
        log(f"Ignoring the saved state: a {type(raw).__name__}, not a list of state messages. All streams start over.")
        return []
    messages = []
    for item in raw:
        for message in _stream_messages(item, log):
            try:
                messages.append(AirbyteStateMessageSerializer.load(message))
            except Exception as error:  # noqa: BLE001 - any shape the checks below did not foresee is ignored too
                log(f"Ignoring a saved state message the CDK cannot read ({type(error).__name__}).")
    return messages


def _stream_messages(item: Any, log: Log) -> list[dict[str, Any]]:
    if not isinstance(item, Mapping):
        log(f"Ignoring a saved state message that is a {type(item).__name__}, not an object.")
        return []
    kind = item.get("type", "STREAM" if "stream" in item else None)
    if kind == "STREAM":
        return _checked(item.get("stream"), log)
    if kind == "GLOBAL":
        return _from_global(item.get("global"), log)
    if kind == "LEGACY" and isinstance(item.get("data"), Mapping):
        return _from_legacy(item["data"], log)
    log(f"Ignoring a saved state message of type {str(kind):.30}: this connector keeps one state per stream.")
    return []


def _from_global(global_state: Any, log: Log) -> list[dict[str, Any]]:
    """A GLOBAL message's per-stream states are usable; its shared state is not (this connector never writes one),
    and the CDK refuses the whole message when it has one."""
    if not isinstance(global_state, Mapping):
        log("Ignoring a GLOBAL saved state without its `global` object.")
        return []
    if global_state.get("shared_state"):
        log("Ignoring the shared part of a GLOBAL saved state: this connector keeps one state per stream.")
    stream_states = global_state.get("stream_states")
    if not isinstance(stream_states, list):
        log("Ignoring a GLOBAL saved state whose `stream_states` is not a list.")
        return []
    return [message for stream in stream_states for message in _checked(stream, log)]


def _from_legacy(streams: Mapping[str, Any], log: Log) -> list[dict[str, Any]]:
    """The legacy format: `{"<stream name>": <that stream's state>}`."""
    log("Reading a saved state in the legacy format ({stream name: state}).")
    as_streams = ({"stream_descriptor": {"name": name}, "stream_state": state} for name, state in streams.items())
    return [message for stream in as_streams for message in _checked(stream, log)]


def _checked(stream: Any, log: Log) -> list[dict[str, Any]]:
    """One STREAM message, or none when its descriptor or state has a shape the CDK would fail on."""
    descriptor = stream.get("stream_descriptor") if isinstance(stream, Mapping) else None
    name = descriptor.get("name") if isinstance(descriptor, Mapping) else None
    namespace = descriptor.get("namespace") if isinstance(descriptor, Mapping) else None
    if not isinstance(name, str) or not name or not isinstance(namespace, str | None):
        log("Ignoring a saved stream state without a valid stream name and namespace.")
        return []
    state = stream.get("stream_state")
    if not isinstance(state, Mapping | None):
        log(
            f"Ignoring the saved state of stream {name:.60}: it is a {type(state).__name__}, not an object; that "
            "stream starts over."
        )
        return []
    descriptor = {"name": name, **({"namespace": namespace} if namespace else {})}
    return [{"type": "STREAM", "stream": {"stream_descriptor": descriptor, "stream_state": dict(state or {})}}]
