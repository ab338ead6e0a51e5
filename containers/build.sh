#!/usr/bin/env bash
# Build containers/<name>.sif from containers/<name>.def (all images, or the names given), run from the repo
# root so %files finds mubench/ and requirements.lock. Needs Apptainer (or SingularityCE) and network access
# at build time only; each recipe's %test imports its packages before the image is kept.
#   containers/build.sh                 # every .def
#   containers/build.sh base openclip   # just these
set -euo pipefail
cd "$(dirname "$0")/.."

builder=$(command -v apptainer || command -v singularity || true)
if [ -z "$builder" ]; then
    echo "containers/build.sh: neither apptainer nor singularity is on PATH." >&2
    echo "Install Apptainer (https://apptainer.org/docs/admin/main/installation.html) or build on a machine" >&2
    echo "that has it, then copy the .sif files into containers/. Without images, run without --use-apptainer" >&2
    echo "(or drop software-deployment-method from profiles/slurm/config.yaml) to use the local environment." >&2
    exit 2
fi

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for def in containers/*.def; do names+=("$(basename "$def" .def)"); done
fi
# unprivileged users build with --fakeroot where the site allows it
fakeroot=()
[ "$(id -u)" -eq 0 ] || fakeroot=(--fakeroot)

for name in "${names[@]}"; do
    def=containers/$name.def
    [ -f "$def" ] || { echo "containers/build.sh: no recipe $def" >&2; exit 1; }
    echo "building containers/$name.sif from $def"
    # build beside the target and move into place, so an interrupted build never leaves a truncated image
    "$builder" build --force "${fakeroot[@]}" "containers/.$name.partial.sif" "$def"
    mv "containers/.$name.partial.sif" "containers/$name.sif"
done
