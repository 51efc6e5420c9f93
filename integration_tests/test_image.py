"""The connector's Docker image, built from the project's Dockerfile and run as the Airbyte platform runs it: `spec`,
`check`, `discover` and a full `read` inside the container against the emulator, which must say exactly what the
console script says outside it.

Needs a Docker engine and a base image: Airbyte's pinned python-connector-base when present, else the stand-in
`scripts/image_env.sh` builds (no registry is reachable here). `.ci/run` prepares both and sets
IMAGE_TEST_REQUIRED=1, which turns a missing prerequisite into a failure instead of a skip.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from integration_tests import e2e_support as e2e
from integration_tests.x_emulator import EmulatorServer, build_dataset

ROOT = e2e.ROOT
TAG = "source-x-organic-analytics:image-test"
STANDIN_BASE = "source-x-organic-analytics/python-connector-base-standin:bookworm-py311"
NOW = e2e.current_hour() - dt.timedelta(hours=1)
TODAY = NOW.date()


def _docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def _default_base_image() -> str:
    return re.search(r"^ARG BASE_IMAGE=(\S+)", (ROOT / "Dockerfile").read_text(), re.M).group(1)


def _missing(reason: str) -> None:
    if os.environ.get("IMAGE_TEST_REQUIRED") == "1":
        pytest.fail(f"image test required (IMAGE_TEST_REQUIRED=1) but {reason}")
    pytest.skip(reason)


def _base_image() -> str:
    """The base to build on: IMAGE_TEST_BASE_IMAGE, else Airbyte's pinned one, else the stand-in, if present."""
    if shutil.which("docker") is None:
        _missing("no `docker` command on PATH (.ci/run installs docker.io where it runs as root)")
    info = _docker("info", timeout=60)
    if info.returncode != 0:
        _missing(f"no Docker engine answers (`docker info`: {info.stderr.strip()[-200:]})")
    candidates = [os.environ.get("IMAGE_TEST_BASE_IMAGE"), _default_base_image(), STANDIN_BASE]
    for image in filter(None, candidates):
        if _docker("image", "inspect", image, timeout=60).returncode == 0:
            return image
    _missing(f"no base image: none of {candidates} is present and no registry is reachable; run scripts/image_env.sh")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def image() -> dict[str, Any]:
    base = _base_image()
    started = time.monotonic()
    built = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_image.sh"), TAG, base], capture_output=True, text=True, timeout=900
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    size = int(_docker("image", "inspect", "-f", "{{.Size}}", TAG).stdout.strip())
    print(f"\nimage {TAG} on {base}: built in {time.monotonic() - started:.0f} s, {size / 1e6:.0f} MB")
    return {"tag": TAG, "base": base, "size": size}


def run_in_image(workdir: Path, command: str, config: dict | None, catalog: dict | None = None) -> e2e.CliRun:
    """`docker run` of the image as the platform does it: the files mounted read-only, the container on the host's
    network so that it reaches the emulator on 127.0.0.1."""
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)  # the container runs as `airbyte`, not as the owner of the test's files
    args = [command]
    for name, content in (("config", config), ("catalog", catalog)):
        if content is not None:
            (workdir / f"{name}.json").write_text(json.dumps(content))
            (workdir / f"{name}.json").chmod(0o644)
            args += [f"--{name}", f"/data/{name}.json"]
    docker_args = ["run", "--rm", "--network", "host", "-v", f"{workdir}:/data:ro", TAG, *args]
    done = _docker(*docker_args, timeout=300)
    return e2e.CliRun(docker_args, done.returncode, done.stdout, done.stderr, e2e.parse_messages(done.stdout))


def _records(run: e2e.CliRun) -> list[str]:
    return sorted(
        json.dumps([m["record"]["stream"], m["record"]["data"]], sort_keys=True) for m in run.of_type("RECORD")
    )


def test_image_runs_as_the_non_root_airbyte_user(image):
    assert _docker("image", "inspect", "-f", "{{.Config.User}}", TAG).stdout.strip() == "airbyte"
    uid = _docker("run", "--rm", "--entrypoint", "id", TAG, "-u").stdout.strip()
    assert uid not in ("", "0"), uid


def test_image_speaks_the_protocol_like_the_cli(image, tmp_path):
    ds = build_dataset(today=TODAY, tweets_per_account=8)
    catalog = e2e.catalog()
    with EmulatorServer(ds, now=NOW) as emu:
        # 30 days: organic_report goes through analytics jobs and their result files.
        config = emu.oauth1_config(start_date=TODAY - dt.timedelta(days=30), end_date=TODAY)
        for command, cat in (("spec", None), ("check", None), ("discover", None), ("read", catalog)):
            in_image = run_in_image(tmp_path / "image" / command, command, None if command == "spec" else config, cat)
            cli = e2e.run_cli(tmp_path / "cli" / command, command, None if command == "spec" else config, cat)
            assert in_image.returncode == cli.returncode == 0, in_image.describe()
            if command == "spec":
                assert in_image.of_type("SPEC") == cli.of_type("SPEC")
            if command == "check":
                assert in_image.connection_status == cli.connection_status == {"status": "SUCCEEDED"}
            if command == "discover":
                assert in_image.of_type("CATALOG") == cli.of_type("CATALOG")
            if command == "read":
                assert _records(in_image) and _records(in_image) == _records(cli)
                assert in_image.states == cli.states
                assert in_image.error_traces == cli.error_traces == []
