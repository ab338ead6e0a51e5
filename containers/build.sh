#!/usr/bin/env bash
# Build the images of containers/<name>.def with whatever this machine has, and say which:
#   apptainer (or singularity)  containers/<name>.sif, straight from the .def (%test runs at the end of each build)
#   podman, else docker         OCI images localhost/mubench/<name>:latest, the .def translated by
#                               containers/def2oci.py, then the recipe's %test run in the image (network off)
# Images that start from another (Bootstrap: localimage, e.g. openclip from base) are built after it.
#
#   containers/build.sh [NAME...]              every recipe, or these and what they start from
#   containers/build.sh --export DIR [NAME...] OCI builders: also write DIR/<name>.oci.tar for the login node
#   containers/build.sh --import DIR [NAME...] Apptainer: containers/<name>.sif from DIR/<name>.oci.tar
#
# Build-time settings, used by pip inside the build and never stored in an image (docs/cluster.md):
#   MUBENCH_BUILD_PIP_CONF  a pip.conf for the builds (a site's PyPI mirror, trusted hosts)
#   MUBENCH_BUILD_CA        a PEM bundle pip trusts during the builds (a TLS-intercepting proxy's CA included)
#   MUBENCH_BUILDER         apptainer | singularity | podman | docker, to choose when several are installed
#   MUBENCH_BASE_IMAGE      OCI builders: build on this image instead of the recipes' python:3.11.7-slim-bookworm
#                           (a local copy of it, or the same Debian 12 + Python 3.11; the container tests use this)
set -euo pipefail
cd "$(dirname "$0")/.."

export_dir="" import_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --export) export_dir=${2:?--export needs a folder}; shift 2 ;;
        --import) import_dir=${2:?--import needs a folder}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "containers/build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) break ;;
    esac
done
# parents first; an unknown name stops here with the list of recipes
order=$(python3 containers/def2oci.py order "$@")
mapfile -t names <<< "$order"

engine_works() {  # docker's client is often installed without a daemon it can reach
    case "$1" in
        docker) docker info >/dev/null 2>&1 ;;
        *) command -v "$1" >/dev/null ;;
    esac
}
builder=${MUBENCH_BUILDER:-}
if [ -z "$builder" ]; then
    for candidate in apptainer singularity podman docker; do
        if command -v "$candidate" >/dev/null && engine_works "$candidate"; then builder=$candidate; break; fi
    done
fi
if [ -z "$builder" ]; then
    cat >&2 <<'EOF'
containers/build.sh: no image builder here: neither apptainer/singularity nor podman nor a running docker.
Install one (Apptainer: https://apptainer.org/docs/admin/main/installation.html; podman: your distribution's
package), or build on a workstation with podman/docker and bring the images over: `containers/build.sh --export
DIR` there, `containers/build.sh --import DIR` on the login node. Without images, run without --use-apptainer
(or drop software-deployment-method from profiles/slurm/config.yaml) to use the local environment.
EOF
    exit 2
fi
engine_works "$builder" || { echo "containers/build.sh: MUBENCH_BUILDER=$builder is not usable here" >&2; exit 2; }
echo "containers/build.sh: building ${names[*]} with $builder ($("$builder" --version 2>/dev/null | head -1))"

settings=$(mktemp -d "${TMPDIR:-/tmp}/mubench-build.XXXXXX")
trap 'rm -rf "$settings"' EXIT
: > "$settings/pip.conf"
: > "$settings/ca.pem"
given_settings=""
for pair in "MUBENCH_BUILD_PIP_CONF:pip.conf" "MUBENCH_BUILD_CA:ca.pem"; do
    var=${pair%%:*} value=${!var:-}
    if [ -n "$value" ]; then
        given_settings=1
        [ -s "$value" ] || { echo "containers/build.sh: $var=$value is not a readable, non-empty file" >&2; exit 2; }
        cp "$value" "$settings/${pair#*:}"
        echo "  pip during the builds: $var=$value"
    fi
done

sif_build() {  # name, source (a .def, or an archive reference), extra build options
    local name=$1 source=$2 fakeroot=()
    shift 2
    [ "$(id -u)" -eq 0 ] || fakeroot=(--fakeroot)  # unprivileged users build with --fakeroot where sites allow it
    # written beside the target and moved into place: an interrupted build never leaves a truncated image
    "$builder" build --force "${fakeroot[@]}" "$@" "containers/.$name.partial.sif" "$source"
    mv "containers/.$name.partial.sif" "containers/$name.sif"
}

oci_build() {
    local name=$1 context ref base_args=()
    ref=$(python3 containers/def2oci.py ref "$name")
    context="$settings/context-$name"
    mkdir -p "$context"
    python3 containers/def2oci.py containerfile "$name" > "$context/Containerfile"
    # the build context holds exactly the recipe's %files (never .venv, results or caches)
    python3 containers/def2oci.py files "$name" | tar -c --exclude=__pycache__ -T - -f - | tar -x -C "$context"
    if [ -n "${MUBENCH_BASE_IMAGE:-}" ] && [ -n "$(python3 containers/def2oci.py base "$name")" ]; then
        base_args=(--build-arg "BASE_IMAGE=$MUBENCH_BASE_IMAGE")
    fi
    # host network at build time only (pip reaches the registry or a mirror on this host); runs have none
    "$builder" build --network=host "${base_args[@]}" \
        --secret "id=mubench-pip-conf,src=$settings/pip.conf" --secret "id=mubench-ca,src=$settings/ca.pem" \
        -t "$ref" -f "$context/Containerfile" "$context"
    echo "testing $ref (the recipe's %test, network off)"
    "$builder" run --rm --network=none --entrypoint /bin/sh "$ref" -ec "$(python3 containers/def2oci.py test "$name")"
    if [ -n "$export_dir" ]; then
        mkdir -p "$export_dir"
        if [ "$builder" = podman ]; then
            podman save --format oci-archive -o "$export_dir/$name.oci.tar" "$ref"
        else
            docker save -o "$export_dir/$name.docker.tar" "$ref"
        fi
    fi
}

for name in "${names[@]}"; do
    started=$SECONDS
    case "$builder" in
        apptainer|singularity)
            if [ -n "$import_dir" ]; then
                archive="$import_dir/$name.oci.tar" kind=oci-archive
                [ -f "$archive" ] || archive="$import_dir/$name.docker.tar" kind=docker-archive
                [ -f "$archive" ] || { echo "containers/build.sh: no $import_dir/$name.oci.tar or .docker.tar" >&2; exit 1; }
                echo "converting $archive into containers/$name.sif"
                sif_build "$name" "$kind://$archive"
            else
                echo "building containers/$name.sif from containers/$name.def"
                # the build-time settings at /mnt, where each recipe's %post looks for them (only when given:
                # older Apptainer releases cannot bind during a build)
                binds=()
                [ -z "$given_settings" ] || binds=(--bind "$settings:/mnt")
                sif_build "$name" "containers/$name.def" "${binds[@]}"
            fi ;;
        podman|docker)
            [ -z "$import_dir" ] || { echo "containers/build.sh: --import converts archives with apptainer" >&2; exit 2; }
            echo "building $name from containers/$name.def"
            oci_build "$name" ;;
        *) echo "containers/build.sh: unknown builder $builder" >&2; exit 2 ;;
    esac
    echo "containers/build.sh: $name built in $((SECONDS - started)) s"
done
