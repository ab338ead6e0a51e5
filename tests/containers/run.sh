#!/usr/bin/env bash
# `make test-containers`: build every image from the shipped recipes with podman (each recipe's %test runs on its
# image), then run the demo with every job inside the image its rule names and compare its tables with a venv
# run (tests/test_container_run.py). Installs podman, runc and debootstrap with apt when absent, so it needs
# root; anywhere else it stops with the reason (exit 2): a skip would let CI pass with nothing tested.
# Podman keeps its images in its default store (/var/lib/containers/storage as root). A torch stack is 6-7 GB
# and committing a build step briefly holds its layer two or three times, so each stack of images that no demo
# job runs (api, legacy-remote-code: `def2oci.py apart`) is built, tested, checked against its lock and removed
# before the demo's images are built; a second run reuses the layers of the images kept. Prints how long each
# step took and the free disk before it; `make test-containers RECORD=1` also writes the times and the image
# sizes into docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
    echo "make test-containers: needs root: it installs podman, runc and debootstrap with apt-get when absent," >&2
    echo "builds a Debian base with debootstrap and runs podman as root. Run it as root (sudo make test-containers)." >&2
    exit 2
fi
if ! command -v apt-get >/dev/null; then
    for tool in podman runc debootstrap; do
        command -v "$tool" >/dev/null || { echo "make test-containers: $tool is missing and there is no apt-get to install it (Debian/Ubuntu only)" >&2; exit 2; }
    done
fi

export CONTAINERS_CONF=$PWD/tests/containers/containers.conf   # runc, no default ulimits (crun fails here)
base_tag=localhost/mubench-test/debian-python:bookworm
state=$(mktemp -d "${TMPDIR:-/tmp}/mubench-test-containers.XXXXXX")
mirror_pid=""
cleanup() { [ -z "$mirror_pid" ] || kill "$mirror_pid" 2>/dev/null || true; rm -rf "$state"; }
trap cleanup EXIT
load_before=$(cut -d' ' -f1 /proc/loadavg)
timings=$state/timings.tsv
sizes=$state/sizes.tsv   # name<TAB>bytes of each image, read when it is built (before any is removed)
: > "$sizes"
export MUBENCH_CONTAINER_TIMINGS=$state/substeps.tsv   # tests/test_container_run.py adds its runs' times here
: > "$timings"
: > "$MUBENCH_CONTAINER_TIMINGS"
step() {  # name, command...: runs it, then records its time and the times of its parts
    local name=$1 started=$SECONDS
    shift
    echo "== $name (free disk: $(df -h --output=avail /var/lib | tail -1 | tr -d ' '))"
    "$@"
    printf '%s\t%s\n' "$name" "$((SECONDS - started))" >> "$timings"
    sed 's/^/  /' "$MUBENCH_CONTAINER_TIMINGS" >> "$timings"
    : > "$MUBENCH_CONTAINER_TIMINGS"
}

tools="podman, runc and debootstrap installed with apt-get"
command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null \
    && tools="podman, runc and debootstrap already there"
step "$tools; Debian 12 + Python 3.11 base image (debootstrap)" tests/containers/host_setup.sh "$base_tag"

# pip inside the builds uses what pip on this host uses: its local mirrors (served on loopback) and its CA bundle
.venv/bin/python tests/containers/pip_mirror.py "$state/pip.conf" &
mirror_pid=$!
# it asks `pip config list` first: seconds on a loaded machine, so wait while it lives (two minutes at most)
for _ in $(seq 600); do
    [ -s "$state/pip.conf" ] || ! kill -0 "$mirror_pid" 2>/dev/null && break
    sleep 0.2
done
[ -s "$state/pip.conf" ] || { echo "make test-containers: tests/containers/pip_mirror.py did not start" \
    "($(kill -0 "$mirror_pid" 2>/dev/null && echo 'no pip.conf after 2 minutes' || echo 'it exited'))" >&2; exit 1; }
export MUBENCH_BUILD_PIP_CONF=$state/pip.conf
ca=${MUBENCH_BUILD_CA:-${PIP_CERT:-$(.venv/bin/pip config get global.cert 2>/dev/null || true)}}
ca=${ca:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-}}}
if [ -n "$ca" ] && [ -s "$ca" ]; then export MUBENCH_BUILD_CA=$ca; else unset MUBENCH_BUILD_CA; fi
export MUBENCH_BASE_IMAGE=$base_tag   # python:3.11.7-slim-bookworm cannot be pulled here (no Docker Hub)

ref() { python3 containers/def2oci.py ref "$1"; }
build_images() {  # names...: containers/build.sh (each image's %test included), times and sizes recorded
    local name
    containers/build.sh "$@" 2>&1 | tee "$state/build.log"
    sed -n 's/^containers\/build.sh: \(.*\) built in \([0-9]*\) s$/image \1\t\2/p' "$state/build.log" \
        >> "$MUBENCH_CONTAINER_TIMINGS"
    for name in "$@"; do printf '%s\t%s\n' "$name" "$(podman image inspect --format '{{.Size}}' "$(ref "$name")")" >> "$sizes"; done
}
check_locks() {  # names...: each package in each image at the version its lock pins
    MUBENCH_CONTAINER_TESTS=1 MUBENCH_CONTAINER_IMAGES="$*" .venv/bin/python -m pytest -q -p no:cacheprovider \
        tests/test_container_run.py -k held_by_the_images_lock
}
build_check_remove() {  # names...: built, tested, checked, then removed with the build layers they left behind
    local before name
    before=$(podman images --all --quiet --no-trunc | sort -u)
    build_images "$@"
    check_locks "$@"
    for name in "$@"; do podman rmi "$(ref "$name")" >/dev/null; done
    comm -13 <(echo "$before") <(podman images --all --quiet --no-trunc | sort -u) | xargs -r podman rmi -f >/dev/null
}

# the images the default workflow's jobs name (and what they start from) are built last and kept for the demo
# shellcheck disable=SC2046  # one image name per word
.venv/bin/python containers/bindings.py > "$state/jobs.tsv" 2> "$state/bindings.log" \
    || { cat "$state/bindings.log" >&2; echo "make test-containers: containers/bindings.py could not plan the demo" >&2; exit 1; }
demo_images=$(python3 containers/def2oci.py order $(cut -f3 "$state/jobs.tsv" | sed -n 's|^containers/\(.*\)\.sif$|\1|p' | sort -u))
[ -n "$demo_images" ] || { echo "make test-containers: containers/bindings.py found no image in the demo's jobs" >&2; exit 1; }
mapfile -t stacks_apart < <(python3 containers/def2oci.py apart $demo_images)
for stack in "${stacks_apart[@]}"; do
    # shellcheck disable=SC2086
    step "build $stack and run its %test, check its packages against its lock, remove it (disk)" \
        build_check_remove $stack
done
kept=$(python3 containers/def2oci.py order | grep -vxF -f <(printf '%s\n' "${stacks_apart[@]}" | tr ' ' '\n' | sed '/^$/d') || true)
# shellcheck disable=SC2086
step "build $(echo $kept) and run each %test (containers/build.sh)" build_images $kept
kill "$mirror_pid" 2>/dev/null || true
mirror_pid=""

step "demo in the venv and inside the images, outputs compared (pytest)" \
    env MUBENCH_CONTAINER_TESTS=1 MUBENCH_CONTAINER_IMAGES="$(echo $kept)" .venv/bin/python -m pytest -q \
    -p no:cacheprovider tests/test_container_run.py

echo
echo "make test-containers: passed"
if [ "${RECORD:-}" = 1 ]; then
    .venv/bin/python tests/containers/performance.py "$timings" "$sizes" "$load_before" --write docs/performance.md
else
    .venv/bin/python tests/containers/performance.py "$timings" "$sizes" "$load_before"
fi
