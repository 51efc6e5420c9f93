#!/usr/bin/env bash
# Makes the image test runnable on a machine like CI's: a Docker engine, and a base image for the Dockerfile.
# No image registry is reachable there, so Airbyte's python-connector-base cannot be pulled: a stand-in with what the
# Dockerfile relies on (Debian bookworm, Python 3.11 with pip, a non-root user `airbyte`) is built from Debian's
# packages with debootstrap and imported once; the Docker engine keeps it, so later runs reuse it.
# Exits 0 when `docker` works and the stand-in exists (printing its tag), non-zero with the reason otherwise.
set -euo pipefail
STANDIN_TAG="${STANDIN_TAG:-source-x-organic-analytics/python-connector-base-standin:bookworm-py311}"

engine_up() { docker info >/dev/null 2>&1; }

start_engine() {
  if ! command -v dockerd >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      echo "image_env: no Docker engine, and no root apt-get to install one" >&2
      return 1
    fi
    echo "image_env: installing docker.io and debootstrap ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null; }
  fi
  echo "image_env: starting dockerd in the background (log: /tmp/dockerd.log) ..." >&2
  nohup dockerd >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 30); do engine_up && return 0; sleep 1; done
  echo "image_env: dockerd did not come up, see /tmp/dockerd.log" >&2
  return 1
}

build_standin() {
  command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  local root
  root="$(mktemp -d /tmp/standin-rootfs.XXXXXX)"
  echo "image_env: building the stand-in base image $STANDIN_TAG with debootstrap (~1 min) ..." >&2
  debootstrap --variant=minbase --include=python3.11,python3-pip,python-is-python3,ca-certificates \
    bookworm "$root" http://deb.debian.org/debian >/tmp/standin-debootstrap.log 2>&1
  # Airbyte's base image runs python.org's Python, where pip installs into /usr/local: Debian's marker that forbids
  # system-wide pip installs would make the Dockerfile behave differently here.
  rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
  chroot "$root" useradd --create-home --uid 1000 --user-group airbyte
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' - "$STANDIN_TAG" >/dev/null
  rm -rf "$root"
}

engine_up || start_engine
# Airbyte's own base image, where a registry made it available, is the better base.
airbyte_base="$(sed -n 's/^ARG BASE_IMAGE=//p' "$(dirname "$0")/../Dockerfile")"
if docker image inspect "$airbyte_base" >/dev/null 2>&1; then
  echo "$airbyte_base"
  exit 0
fi
docker image inspect "$STANDIN_TAG" >/dev/null 2>&1 || build_standin
echo "$STANDIN_TAG"
