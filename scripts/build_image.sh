#!/usr/bin/env bash
# Builds the connector's image from the Dockerfile without a package index: the dependencies come from a wheelhouse
# (.wheelhouse/, built on this host from requirements.lock with pip, reused while the lock is unchanged) and the build
# runs with --network none. Usage: scripts/build_image.sh TAG [BASE_IMAGE]
# (BASE_IMAGE defaults to the Dockerfile's pinned airbyte/python-connector-base).
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:?usage: scripts/build_image.sh TAG [BASE_IMAGE]}"
BASE_IMAGE="${2:-}"
PYTHON="${PYTHON:-python3}"
build_backend="$(sed -n 's/^requires = \["\(.*\)"\]/\1/p' pyproject.toml)"
stamp="$({ cat requirements.lock; echo "$build_backend"; } | sha256sum | cut -c1-16)"
if [ "$(cat .wheelhouse/.stamp 2>/dev/null)" != "$stamp" ]; then
  echo "build_image: building .wheelhouse from requirements.lock ..." >&2
  find .wheelhouse -name '*.whl' -delete
  "$PYTHON" -m pip wheel -q --no-deps -r requirements.lock -w .wheelhouse
  # the build backend, for pip's isolated build of the connector itself
  "$PYTHON" -m pip wheel -q "$build_backend" -w .wheelhouse
  echo "$stamp" >.wheelhouse/.stamp
fi
args=(--network none --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/airbyte/integration_code/.wheelhouse)
[ -n "$BASE_IMAGE" ] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
DOCKER_BUILDKIT=0 docker build -q "${args[@]}" -t "$TAG" .
