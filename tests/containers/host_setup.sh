#!/usr/bin/env bash
# Prepares this machine for `make test-containers` (tests/containers/run.sh calls it): podman, runc and
# debootstrap from Debian's packages when absent, and a Debian 12 + Python 3.11 base image built with
# debootstrap (Docker Hub is not reachable here, so the recipes' `python:3.11.7-slim-bookworm` cannot be pulled;
# the build substitutes this one through the BASE_IMAGE build argument, nothing else). Needs root and apt.
#   tests/containers/host_setup.sh BASE_TAG
set -euo pipefail
base_tag=${1:?usage: host_setup.sh BASE_TAG}

missing=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if podman image exists "$base_tag"; then
    echo "base image $base_tag: present"
    exit 0
fi
# the bookworm mirror apt already uses (deb822 sources first, then the one-line format)
mirror=$(awk '/^URIs:/ && !/security/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "host_setup.sh: no Debian mirror found in /etc/apt (sources.list.d/*.sources or sources.list)" >&2; exit 1; }
rootfs=$(mktemp -d /var/tmp/mubench-debootstrap.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "building $base_tag with debootstrap from $mirror"
debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" "$mirror" >/dev/null
# LANG as python:3.11-slim sets it; everything else comes from the recipes
tar -C "$rootfs" -c . | podman import --quiet --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$base_tag" >/dev/null
echo "base image $base_tag: $(podman run --rm "$base_tag" python3 -c 'import sys; print("Python", sys.version.split()[0])')"
