"""Apptainer recipes (containers/<name>.def) as Containerfiles, for podman or docker where Apptainer is absent.

The .def files are the only recipes. This maps the small subset of the format they use onto OCI build steps,
and refuses anything else, so no recipe is ever written twice by hand:

    Bootstrap: docker / From: REF       ARG BASE_IMAGE=REF (fully qualified) + FROM ${BASE_IMAGE}
    Bootstrap: localimage / From: containers/NAME.sif    FROM localhost/mubench/NAME:latest (built first)
    %labels KEY VALUE                   LABEL KEY="VALUE"
    %files SRC DST                      COPY SRC DST (SRC relative to the repository root = the build context)
    %post                               one RUN of the whole script, with the build-time site settings
                                        (pip.conf, CA bundle) mounted as secrets at /mnt, never in a layer
    %environment export NAME=VALUE      ENV NAME=VALUE ($VAR and ${VAR:-default} expand as in the shell)
    %runscript                          ENTRYPOINT running the script with the arguments, as `apptainer run`
    %test                               not a layer: containers/build.sh runs it in the built image

Only differences of the runtimes remain: an OCI image's ENV wins over the caller's environment unless the
caller passes --env (Apptainer's `${VAR:-default}` in %environment lets a host value through), which is why
profiles/slurm passes HF_HOME, TORCH_HOME and HF_HUB_OFFLINE with --env.

    python3 containers/def2oci.py containerfile NAME   # the Containerfile, on stdout
    python3 containers/def2oci.py files NAME           # %files sources, one a line (the build context)
    python3 containers/def2oci.py test NAME            # the %test script
    python3 containers/def2oci.py base NAME            # the Docker Hub image it starts from ('' for localimage)
    python3 containers/def2oci.py ref NAME             # the tag its OCI build gets
    python3 containers/def2oci.py order [NAME...]      # names in build order, images they start from first
    python3 containers/def2oci.py apart [NAME...]      # one line per set of images that neither NAME nor what
                                                       # NAME starts from needs: a base image and every image
                                                       # built on it, in build order (each set can be built,
                                                       # tested and removed on its own to save disk)

Standard library only: it runs with whatever python3 a workstation or login node has.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

CONTAINERS = Path(__file__).resolve().parent
IMAGE_PREFIX = "localhost/mubench/"
SECTIONS = {"labels", "files", "post", "environment", "test", "runscript"}
# build-time site settings: containers/build.sh fills them from MUBENCH_BUILD_PIP_CONF / MUBENCH_BUILD_CA
BUILD_SECRETS = {"mubench-pip-conf": "/mnt/pip.conf", "mubench-ca": "/mnt/ca.pem"}
LOCAL_IMAGE = re.compile(r"containers/([A-Za-z0-9][A-Za-z0-9_.-]*)\.sif")
EXPORT = re.compile(r"export ([A-Za-z_][A-Za-z0-9_]*)=(\S+)")


class RecipeError(ValueError):
    """A recipe uses something this translation does not map (it would build differently under podman)."""


@dataclass(frozen=True)
class Recipe:
    name: str
    header: dict[str, str]
    sections: dict[str, str]

    @property
    def base(self) -> str:
        """The Docker Hub image a `Bootstrap: docker` recipe starts from; '' for one built on another recipe."""
        return self.header["From"] if self.header["Bootstrap"] == "docker" else ""

    @property
    def parent(self) -> str | None:
        """The recipe a `Bootstrap: localimage` recipe starts from (containers/<parent>.sif)."""
        if self.header["Bootstrap"] != "localimage":
            return None
        return LOCAL_IMAGE.fullmatch(self.header["From"])[1]


def image_ref(name: str) -> str:
    """The tag an OCI build of containers/<name>.def gets; the container tests run exactly these images."""
    return f"{IMAGE_PREFIX}{name}:latest"


def parse(path: Path) -> Recipe:
    header, sections, current = {}, {}, None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        where = f"{path.name}:{number}"
        if line.startswith("%"):
            name, *args = line[1:].split()
            if name not in SECTIONS:
                raise RecipeError(f"{where}: section %{name} is not mapped to an OCI build (use {sorted(SECTIONS)})")
            if args:
                raise RecipeError(f"{where}: %{name} {' '.join(args)}: section arguments are not mapped")
            if name in sections:
                raise RecipeError(f"{where}: section %{name} appears twice")
            current, sections[name] = name, ""
        elif current is not None:
            sections[current] += line + "\n"
        elif line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition(":")
            if not sep:
                raise RecipeError(f"{where}: header line {line!r} is not 'Keyword: value'")
            header[key.strip()] = value.strip()
    bootstrap, source = header.get("Bootstrap"), header.get("From", "")
    if bootstrap == "localimage" and not LOCAL_IMAGE.fullmatch(source):
        raise RecipeError(f"{path.name}: localimage recipes start from containers/<name>.sif, not {source!r}")
    if bootstrap not in ("docker", "localimage") or not source:
        raise RecipeError(f"{path.name}: needs 'Bootstrap: docker' or 'Bootstrap: localimage' and a 'From:'")
    return Recipe(path.stem, header, sections)


def load(name: str, folder: Path = CONTAINERS) -> Recipe:
    path = folder / f"{name}.def"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.def")))
        raise RecipeError(f"no recipe containers/{name}.def (recipes: {known})")
    return parse(path)


def qualified(reference: str) -> str:
    """A Docker Hub short name as podman and docker both resolve it without asking (python:3 → docker.io/library/)."""
    first, _, rest = reference.partition("/")
    if not rest:
        return f"docker.io/library/{reference}"
    if "." in first or ":" in first or first == "localhost":
        return reference
    return f"docker.io/{reference}"


def lines(body: str) -> list[str]:
    """The non-blank, non-comment lines of a section, stripped."""
    return [line.strip() for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def files(recipe: Recipe) -> list[tuple[str, str]]:
    pairs = []
    for line in lines(recipe.sections.get("files", "")):
        parts = line.split()
        if len(parts) != 2 or parts[0].startswith("/") or ".." in Path(parts[0]).parts:
            raise RecipeError(f"{recipe.name}.def %files: {line!r} must be 'SRC DST' with SRC inside the repository")
        pairs.append((parts[0], parts[1]))
    return pairs


def environment(recipe: Recipe) -> list[tuple[str, str]]:
    pairs = []
    for line in lines(recipe.sections.get("environment", "")):
        match = EXPORT.fullmatch(line)
        if not match or any(c in match[2] for c in "\"'`;"):
            raise RecipeError(f"{recipe.name}.def %environment: {line!r} is not 'export NAME=VALUE' "
                              "(one unquoted value a line)")
        pairs.append((match[1], match[2]))
    return pairs


def labels(recipe: Recipe) -> list[tuple[str, str]]:
    pairs = []
    for line in lines(recipe.sections.get("labels", "")):
        key, _, value = line.partition(" ")
        pairs.append((key, value.strip()))
    return pairs


def containerfile(recipe: Recipe) -> str:
    out = [f"# Generated from containers/{recipe.name}.def by containers/def2oci.py: edit the .def, not this."]
    if recipe.parent:
        out.append(f"FROM {image_ref(recipe.parent)}")
    else:
        # the container tests may substitute a local copy with the same Debian release and Python minor version
        out += [f"ARG BASE_IMAGE={qualified(recipe.base)}", "FROM ${BASE_IMAGE}"]
    out += [f"LABEL {key}={json.dumps(value)}" for key, value in labels(recipe)]
    out += [f"COPY {source} {target}" for source, target in files(recipe)]
    if "post" in recipe.sections:
        mounts = " ".join(f"--mount=type=secret,id={key},target={target}" for key, target in BUILD_SECRETS.items())
        out.append(f"RUN {mounts} {json.dumps(['/bin/sh', '-ec', recipe.sections['post']])}")
    out += [f"ENV {name}={value}" for name, value in environment(recipe)]
    if "runscript" in recipe.sections:
        # "$@" of the runscript are the arguments after the image, as for `apptainer run IMAGE ARGS`
        out.append(f"ENTRYPOINT {json.dumps(['/bin/sh', '-c', recipe.sections['runscript'], 'runscript'])}")
    return "\n".join(out) + "\n"


def build_order(names: list[str], folder: Path = CONTAINERS) -> list[str]:
    """``names`` and the recipes they start from, each after its parent."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise RecipeError(f"recipes start from each other in a loop: {' → '.join(path + (name,))}")
        if name in order:
            return
        parent = load(name, folder).parent
        if parent:
            visit(parent, path + (name,))
        order.append(name)

    for name in names:
        visit(name, ())
    return order


def apart_from(needed: list[str], folder: Path = CONTAINERS) -> list[list[str]]:
    """Every recipe ``needed`` does not reach, grouped by the base recipe it starts from (each in build order)."""
    kept = set(build_order(needed, folder))
    everything = build_order(sorted(p.stem for p in folder.glob("*.def")), folder)
    groups: dict[str, list[str]] = {}
    for name in everything:
        if name in kept:
            continue
        root = name
        while load(root, folder).parent:
            root = load(root, folder).parent
        if root not in kept:  # an image on a needed base is cheap to keep; only whole stacks are set apart
            groups.setdefault(root, []).append(name)
    return list(groups.values())


def main(argv: list[str]) -> int:
    commands = {
        "containerfile": lambda names: containerfile(load(names[0])),
        "files": lambda names: "".join(f"{source}\n" for source, _ in files(load(names[0]))),
        "test": lambda names: load(names[0]).sections.get("test", ""),
        "ref": lambda names: image_ref(load(names[0]).name) + "\n",
        "base": lambda names: (qualified(load(names[0]).base) + "\n") if load(names[0]).base else "",
        "order": lambda names: "".join(f"{name}\n" for name in build_order(
            names or sorted(p.stem for p in CONTAINERS.glob("*.def")))),
        "apart": lambda names: "".join(" ".join(group) + "\n" for group in apart_from(names)),
    }
    if not argv or argv[0] not in commands or (argv[0] not in ("order", "apart") and len(argv) != 2):
        sys.stderr.write(__doc__.split("\n\n")[-2] + "\n")
        return 2
    try:
        sys.stdout.write(commands[argv[0]](argv[1:]))
    except RecipeError as err:
        sys.stderr.write(f"def2oci.py: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
