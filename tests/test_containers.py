"""Image recipes (containers/*.def), their OCI translation (containers/def2oci.py), the build script, the test-only
`apptainer` stand-in (tests/containers/apptainer) and the conda envs (envs/*.yaml), checked without building:
recipes pin exactly the lock's versions, cover every model family, share one base, and translate faithfully;
each workflow job resolves to its family's image, and `snakemake --use-apptainer` plans through the stand-in.
Building the images and running the demo inside them is `make test-containers` (tests/test_container_run.py)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, copy_workflow, snakemake, workflow_config

from mubench.analyses.merging.plan import merge_plan
from mubench.config import check_config
from mubench.models.spec import FAMILIES

CONTAINERS = REPO / "containers"
STAND_IN = REPO / "tests" / "containers" / "apptainer"
DEFS = sorted(CONTAINERS.glob("*.def"))
GPU_IMAGES = {"openclip", "hf-vlm", "legacy-remote-code"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")
SETTINGS_LINES = ["if [ -s /mnt/pip.conf ]; then export PIP_CONFIG_FILE=/mnt/pip.conf; fi",
                  "if [ -s /mnt/ca.pem ]; then export PIP_CERT=/mnt/ca.pem; fi"]


def load_module(name: str, path: Path):
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    loader.exec_module(module)
    return module


def2oci = load_module("def2oci", CONTAINERS / "def2oci.py")
stand_in = load_module("apptainer_stand_in", STAND_IN)


def normalize(name: str) -> str:
    """Package names as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[normalize(match[1])] = match[2]
    return pins


def image_lock(name: str) -> dict[str, str]:
    """requirements.lock, overridden or extended by containers/<name>.lock where an image documents its own pins."""
    pins = read_lock(REPO / "requirements.lock")
    own = CONTAINERS / f"{name}.lock"
    return {**pins, **read_lock(own)} if own.exists() else pins


def pip_pins(post: str) -> dict[str, str]:
    """Packages named on the recipe's `pip install` commands; every one must carry an exact pin."""
    pins = {}
    logical_lines = post.replace("\\\n", " ").splitlines()  # join backslash continuations
    for line in logical_lines:
        if "pip install" not in line:
            continue
        tokens = line.split("pip install", 1)[1].split()
        args = [t for i, t in enumerate(tokens) if not t.startswith("-") and tokens[i - 1] not in ("-c", "-r")]
        for token in args:
            if token.startswith("/"):
                continue  # the mubench source tree copied in by %files
            match = PIN.match(token)
            assert match, f"unpinned package {token!r} in a pip install"
            pins[normalize(match[1])] = match[2]
    return pins


def chain(name: str) -> list:
    """The recipe and the ones it starts from, root first."""
    recipes = [def2oci.load(name)]
    while recipes[0].parent:
        recipes.insert(0, def2oci.load(recipes[0].parent))
    return recipes


def chain_pins(name: str) -> dict[str, str]:
    pins = {}
    for recipe in chain(name):
        pins.update(pip_pins(recipe.sections["post"]))
    return pins


# ── the recipes ────────────────────────────────────────────────────────────────────────────────────────────


def test_every_image_starts_from_one_python_base_or_from_another_recipe():
    """One Debian 12 + Python 3.11 base for every image (GPU images get CUDA from PyPI's torch wheels and the
    driver from `apptainer --nv`), pinned to a tag; images with torch 2.14 start from base, so it is installed once."""
    roots = {p.stem: def2oci.parse(p).base for p in DEFS if def2oci.parse(p).base}
    assert len(set(roots.values())) == 1, f"recipes start from different bases: {roots}"
    image, _, tag = next(iter(roots.values())).rpartition(":")
    assert image == "python" and tag.startswith("3.11.") and tag.endswith("-slim-bookworm"), tag
    for path in DEFS:
        recipe = def2oci.parse(path)
        assert recipe.base or (CONTAINERS / f"{recipe.parent}.def").exists(), f"{path.name}: unknown parent"
    assert {r.name for r in map(def2oci.parse, DEFS) if r.parent == "base"} == {"openclip", "hf-vlm"}
    for name in GPU_IMAGES:
        assert "torch" in chain_pins(name), f"{name} runs models on a GPU: its chain must install torch"


@pytest.mark.parametrize("path", DEFS, ids=lambda p: p.stem)
def test_definition_sections_and_build_settings(path):
    recipe = def2oci.parse(path)
    required = {"labels", "post", "test"} | ({"files", "environment", "runscript"} if recipe.base else set())
    assert required <= set(recipe.sections), f"{path.name}: missing sections {required - set(recipe.sections)}"
    assert all(recipe.sections[name].strip() for name in required), f"{path.name}: empty section"
    post = [line.strip() for line in recipe.sections["post"].splitlines() if line.strip()]
    assert post[0] == "set -eu", f"{path.name}: %post must stop at the first failing command"
    # every recipe that runs pip reads the build-time site settings where containers/build.sh mounts them
    assert all(line in post for line in SETTINGS_LINES), f"{path.name}: %post does not read /mnt/pip.conf, /mnt/ca.pem"
    assert set(def2oci.BUILD_SECRETS.values()) == {"/mnt/pip.conf", "/mnt/ca.pem"}


@pytest.mark.parametrize("path", [p for p in DEFS if def2oci.parse(p).base], ids=lambda p: p.stem)
def test_root_definition_installs_mubench_and_honours_cache_and_offline_settings(path):
    recipe = def2oci.parse(path)
    copied = dict(def2oci.files(recipe))
    assert copied.get("mubench") == "/opt/mubench/mubench", f"{path.name}: mubench must be copied in by %files"
    for source in copied:
        assert (REPO / source).exists(), f"{path.name}: %files source {source} does not exist"
    assert "--no-deps --no-build-isolation /opt/mubench" in recipe.sections["post"]
    for var in ("HF_HOME", "HF_HUB_OFFLINE", "TORCH_HOME"):
        # ${VAR:-default}: a value from the host or `apptainer --env` wins over the image's default
        assert f"export {var}=${{{var}:-" in recipe.sections["environment"], f"{path.name}: {var} not honoured"


@pytest.mark.parametrize("path", DEFS, ids=lambda p: p.stem)
def test_definition_pins_equal_the_lock(path):
    pins, lock = pip_pins(def2oci.parse(path).sections["post"]), image_lock(path.stem)
    assert pins, f"{path.name}: no pinned packages found"
    assert {name: lock.get(name) for name in pins} == pins, f"{path.name}: pins differ from the lock"
    assert "snakemake" in chain_pins(path.stem), f"{path.name}: `script:` rules need snakemake inside the image"
    for own in [p for p in CONTAINERS.glob("*.lock") if p.stem == path.stem]:
        assert f"/opt/mubench/{own.name}" in def2oci.parse(path).sections["post"], f"{path.name} ignores {own.name}"


def test_legacy_image_keeps_the_old_transformers_its_remote_code_needs():
    lock = read_lock(CONTAINERS / "legacy-remote-code.lock")
    major, minor = (int(part) for part in lock["transformers"].split(".")[:2])
    assert (4, 35) <= (major, minor) < (4, 40), "Qwen-VL-Chat and CogVLM remote code need 4.35 ≤ transformers < 4.40"
    assert lock["transformers"] != read_lock(REPO / "requirements.lock")["transformers"]


def test_contrastive_image_carries_conchs_code():
    assert chain_pins("openclip")["conch-fork"] == read_lock(CONTAINERS / "openclip.lock")["conch-fork"]
    assert "conch-fork" not in read_lock(REPO / "requirements.lock"), "CC-BY-NC-ND code stays out of the venv"


def test_every_family_has_a_definition_whose_test_imports_its_adapter():
    for family, spec in FAMILIES.items():
        path = CONTAINERS / f"{spec.container}.def"
        assert path.exists(), f"family {family}: no containers/{spec.container}.def"
        module = spec.adapter.partition(":")[0]
        if module:
            assert module in def2oci.parse(path).sections["test"], f"{path.name} %test does not import {module}"


@pytest.mark.parametrize("path", DEFS, ids=lambda p: p.stem)
def test_conda_env_carries_the_same_pins(path):
    env = yaml.safe_load((REPO / "envs" / f"{path.stem}.yaml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_section = next(dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict))
    env_pins = {normalize(m[1]): m[2] for m in map(PIN.match, pip_section)}
    assert env_pins == chain_pins(path.stem)


# ── the OCI translation ────────────────────────────────────────────────────────────────────────────────────


def instructions(text: str) -> list[tuple[str, str]]:
    return [tuple(line.split(" ", 1)) for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("path", DEFS, ids=lambda p: p.stem)
def test_containerfile_carries_every_section_of_the_recipe(path):
    recipe = def2oci.parse(path)
    steps = instructions(def2oci.containerfile(recipe))
    if recipe.parent:
        assert steps[0] == ("FROM", f"localhost/mubench/{recipe.parent}:latest")
    else:
        assert steps[:2] == [("ARG", f"BASE_IMAGE=docker.io/library/{recipe.base}"), ("FROM", "${BASE_IMAGE}")]
    copies = [tuple(arg.split()) for kind, arg in steps if kind == "COPY"]
    assert copies == def2oci.files(recipe)
    (run,) = [arg for kind, arg in steps if kind == "RUN"]
    mounts, _, command = run.partition(" [")
    assert json.loads("[" + command) == ["/bin/sh", "-ec", recipe.sections["post"]], "the %post script, verbatim"
    assert mounts.split() == [f"--mount=type=secret,id={key},target={target}"
                              for key, target in def2oci.BUILD_SECRETS.items()]
    envs = [arg for kind, arg in steps if kind == "ENV"]
    assert envs == [line.strip()[len("export "):] for line in recipe.sections.get("environment", "").splitlines()
                    if line.strip().startswith("export ")]
    entry = [json.loads(arg) for kind, arg in steps if kind == "ENTRYPOINT"]
    assert entry == ([["/bin/sh", "-c", recipe.sections["runscript"], "runscript"]] if "runscript" in recipe.sections
                     else [])
    assert [kind for kind, _ in steps if kind not in ("ARG", "FROM", "LABEL", "COPY", "RUN", "ENV", "ENTRYPOINT")] == []


def test_runscript_entrypoint_passes_arguments_like_apptainer_run(tmp_path):
    """`apptainer run IMAGE ARGS` gives ARGS to the runscript as "$@"; the ENTRYPOINT does the same."""
    entry = json.loads(def2oci.containerfile(def2oci.load("base")).split("ENTRYPOINT ", 1)[1])
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\nprintf "%s|" "$@"\n')
    fake.chmod(0o755)
    out = subprocess.run([*entry, "-c", "print('a b')"], env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
                         capture_output=True, text=True, check=True).stdout
    assert out == "-c|print('a b')|"


def write_def(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.def"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("Bootstrap: docker\nFrom: x:1\n%setup\n    touch /x\n", "section %setup is not mapped"),
    ("Bootstrap: docker\nFrom: x:1\n%files from build\n    a b\n", "section arguments are not mapped"),
    ("Bootstrap: docker\nFrom: x:1\n%environment\n    FOO=1\n", "is not 'export NAME=VALUE'"),
    ("Bootstrap: docker\nFrom: x:1\n%environment\n    export FOO='a b'\n", "is not 'export NAME=VALUE'"),
    ("Bootstrap: docker\nFrom: x:1\n%files\n    /etc/passwd /x\n", "with SRC inside the repository"),
    ("Bootstrap: localimage\nFrom: /images/base.sif\n", "start from containers/<name>.sif"),
    ("Bootstrap: library\nFrom: alpine\n", "needs 'Bootstrap: docker' or 'Bootstrap: localimage'"),
    ("Bootstrap: docker\nFrom: x:1\n%post\n    a\n%post\n    b\n", "appears twice"),
])
def test_translation_refuses_what_it_cannot_map(tmp_path, text, message):
    path = write_def(tmp_path, "bad", text)
    with pytest.raises(def2oci.RecipeError, match=re.escape(message)):
        def2oci.containerfile(def2oci.parse(path))


def test_build_order_puts_parents_first_and_names_a_loop(tmp_path):
    assert def2oci.build_order(["openclip", "hf-vlm"]) == ["base", "openclip", "hf-vlm"]
    assert def2oci.build_order([]) == []
    write_def(tmp_path, "a", "Bootstrap: localimage\nFrom: containers/b.sif\n")
    write_def(tmp_path, "b", "Bootstrap: localimage\nFrom: containers/a.sif\n")
    with pytest.raises(def2oci.RecipeError, match="a → b → a"):
        def2oci.build_order(["a"], tmp_path)
    with pytest.raises(def2oci.RecipeError, match="no recipe containers/c.def"):
        def2oci.build_order(["c"], tmp_path)


def test_stacks_apart_from_the_demos_images_can_be_built_and_removed_alone(tmp_path):
    """make test-containers builds, checks and removes these one stack at a time (disk): a stack is a base recipe
    nothing needed starts from, with every image built on it; an image on a needed base stays with the demo's."""
    assert def2oci.apart_from(["base", "openclip"]) == [["api"], ["legacy-remote-code"]]
    for name, parent in {"root": "", "leaf": "root", "other": "", "on-other": "other", "on-root": "root"}.items():
        write_def(tmp_path, name, f"Bootstrap: localimage\nFrom: containers/{parent}.sif\n" if parent
                  else "Bootstrap: docker\nFrom: python:3.11\n")
    assert def2oci.apart_from(["leaf"], tmp_path) == [["other", "on-other"]]
    assert def2oci.apart_from([], tmp_path) == [["root", "leaf", "on-root"], ["other", "on-other"]]


def test_short_names_are_qualified_as_docker_hub_resolves_them():
    assert def2oci.qualified("python:3.11") == "docker.io/library/python:3.11"
    assert def2oci.qualified("nvidia/cuda:12") == "docker.io/nvidia/cuda:12"
    assert def2oci.qualified("ghcr.io/x/y:1") == "ghcr.io/x/y:1"
    assert def2oci.qualified("localhost/mubench/base:latest") == "localhost/mubench/base:latest"


# ── containers/build.sh, without building ──────────────────────────────────────────────────────────────────


def tool_path(tmp_path: Path, fakes: dict[str, str]) -> str:
    """A PATH with the tools build.sh uses and the given fake builders, but no real apptainer, podman or docker."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)  # not a version manager's shim
    for tool in ("bash", "env", "mktemp", "rm", "cp", "cat", "sed", "head", "id", "dirname", "tar",
                 "mkdir", "mv"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for name, script in fakes.items():
        (bin_dir / name).write_text("#!/bin/bash\n" + script)
        (bin_dir / name).chmod(0o755)
    return str(bin_dir)


def run_build(tmp_path: Path, fakes: dict[str, str], *args: str, **env: str) -> subprocess.CompletedProcess:
    """containers/build.sh of a copy of containers/ (it writes containers/<name>.sif beside itself)."""
    shutil.copytree(CONTAINERS, tmp_path / "repo" / "containers", ignore=shutil.ignore_patterns("*.sif", "__pycache__"))
    return subprocess.run([str(tmp_path / "repo" / "containers" / "build.sh"), *args], capture_output=True,
                          text=True, timeout=120, env={"PATH": tool_path(tmp_path, fakes), "TMPDIR": str(tmp_path),
                                                       **env})


def test_build_script_explains_when_no_builder_is_usable(tmp_path):
    """A docker client without a daemon (as on these machines) does not count as a builder."""
    proc = run_build(tmp_path, {"docker": "[ \"$1\" = info ] && exit 1; exit 0\n"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no image builder here" in proc.stderr and "--export" in proc.stderr


def test_build_script_with_apptainer_builds_parents_first_with_the_settings_mounted(tmp_path):
    """With Apptainer, each .def is built natively (no translation), base before the images on top of it, with
    the build-time pip settings bound at /mnt; each .sif is moved into place only when its build succeeded."""
    log = tmp_path / "calls.log"
    ca = tmp_path / "site-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    fake = (f'echo "$*" >> {log}\n'
            '[ "$1" = --version ] && { echo "apptainer version 1.3.6"; exit 0; }\n'
            'bind=$(echo "$*" | sed -n "s/.*--bind \\([^ ]*\\):\\/mnt.*/\\1/p")\n'
            f'cat "$bind/ca.pem" >> {log}\n'
            ': > "${@: -2:1}"\n')  # the image it was asked to write
    proc = run_build(tmp_path, {"apptainer": fake}, "openclip", MUBENCH_BUILD_CA=str(ca))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "building base openclip with apptainer (apptainer version 1.3.6)" in proc.stdout
    builds = [line for line in log.read_text().splitlines() if line.startswith("build")]
    assert [line.split()[-1] for line in builds] == ["containers/base.def", "containers/openclip.def"]
    assert all("--force" in line and ":/mnt" in line and ".partial.sif" in line for line in builds)
    assert log.read_text().count("BEGIN CERTIFICATE") == 2, "the CA reaches every build"
    built = tmp_path / "repo" / "containers"
    assert sorted(p.name for p in built.glob("*.sif")) == ["base.sif", "openclip.sif"]
    log.unlink()
    assert run_build(tmp_path / "plain", {"apptainer": fake}, "api").returncode == 0
    assert "--bind" not in log.read_text(), "no settings given: nothing to bind (older Apptainer cannot)"


def test_build_script_refuses_an_unreadable_setting(tmp_path):
    proc = run_build(tmp_path, {"apptainer": 'echo "apptainer version 1.3.6"\n'}, "api",
                     MUBENCH_BUILD_CA=str(tmp_path / "missing.pem"))
    assert proc.returncode == 2 and "MUBENCH_BUILD_CA" in proc.stderr and "missing.pem" in proc.stderr


# ── the test-only apptainer stand-in, without podman ──────────────────────────────────────────────────────


def test_stand_in_says_what_it_is_and_passes_snakemakes_version_check():
    head = STAND_IN.read_text().split("\n", 3)[1]
    assert "TEST-ONLY STAND-IN" in head and "NOT APPTAINER" in head.upper()
    import packaging.version  # noqa: F401 - snakemake's parseversion uses it without importing it
    from snakemake.deployment.singularity import Singularity

    out = subprocess.run([str(STAND_IN), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("apptainer version") and "stand.in" in out
    assert str(Singularity().parseversion(out.strip())) >= "1.0.0"


def test_stand_in_parses_the_command_snakemake_builds(tmp_path, monkeypatch):
    """The exact `apptainer exec` line of snakemake.deployment.singularity.shellcmd for a `script:` job with the
    profile's arguments."""
    from snakemake.deployment.singularity import Singularity, shellcmd

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{STAND_IN.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(Singularity(), "checked", False)
    import packaging.version  # noqa: F401 - snakemake's check uses it without importing it
    Singularity().check()  # as snakemake does before the first job: finds the binary, reads its version
    line = shellcmd("containers/base.sif", "python .snakemake/scripts/tmp.score.py", bind=[tmp_path],
                    args="--nv --bind /data,/cache --env HF_HOME=/cache/hf,HF_HUB_OFFLINE=1", quiet=True,
                    shell_executable="/bin/bash", is_python_script=True)
    argv = shlex.split(line)
    assert argv[:3] == ["apptainer", "--quiet", "--silent"] and argv[3] == "exec"
    options = stand_in.parse_exec(argv[4:])
    assert options["image"] == "containers/base.sif" and options["home"] == str(tmp_path)
    assert options["command"] == ["bash", "-c", "python .snakemake/scripts/tmp.score.py"]
    assert options["env"] == {"HF_HOME": "/cache/hf", "HF_HUB_OFFLINE": "1"} and options["nv"]
    assert "/data" in options["binds"] and "/cache" in options["binds"]
    assert any(b.endswith(":/mnt/snakemake_searchpaths/item_0") for b in options["binds"])
    with pytest.raises(SystemExit, match="'--writable' is not implemented"):
        stand_in.parse_exec(["--writable", "containers/base.sif", "true"])


def test_stand_in_environment_follows_apptainers_precedence(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("HF_HOME", "/host/hf")
    monkeypatch.setenv("APPTAINERENV_TOKEN_FILE", "/run/t")
    options = {"cleanenv": False, "env": {"HF_HUB_OFFLINE": "1"}, "home": "/work"}
    env = stand_in.container_environment(options, {"PATH": "/opt/venv/bin:/usr/bin", "HF_HOME": "/opt/hf",
                                                   "HF_HUB_OFFLINE": "0"})
    assert env["OMP_NUM_THREADS"] == "2", "the caller's variables pass in (Snakemake's thread settings)"
    assert env["HF_HOME"] == "/opt/hf" and env["PATH"] == "/opt/venv/bin:/usr/bin", "the image's win over the host's"
    assert env["HF_HUB_OFFLINE"] == "1" and env["TOKEN_FILE"] == "/run/t" and env["HOME"] == "/work"
    assert "APPTAINERENV_TOKEN_FILE" not in env and "LD_LIBRARY_PATH" not in env
    assert "OMP_NUM_THREADS" not in stand_in.container_environment({**options, "cleanenv": True}, {})


def test_stand_in_refuses_a_missing_or_real_image(tmp_path):
    with pytest.raises(SystemExit, match="no such file"):
        stand_in.podman_image(str(tmp_path / "base.sif"))
    (tmp_path / "real.sif").write_bytes(b"#!/usr/bin/env run-singularity\n\x00SIF_MAGIC")
    with pytest.raises(SystemExit, match="needs the real Apptainer"):
        stand_in.podman_image(str(tmp_path / "real.sif"))
    (tmp_path / "base.sif").write_text("podman-image 0123abcd localhost/mubench/base:latest\n")
    assert stand_in.podman_image(str(tmp_path / "base.sif")) == ("0123abcd", "localhost/mubench/base:latest")


# ── which image each job runs in ───────────────────────────────────────────────────────────────────────────


def job_images(workdir: Path) -> list[tuple[str, str, str]]:
    """bindings.py on a copy of the workflow in ``workdir`` (building the DAG writes .snakemake/ beside it)."""
    copy_workflow(workdir)
    out = subprocess.run([sys.executable, str(CONTAINERS / "bindings.py"), "--snakefile", str(workdir / "Snakefile")],
                         cwd=workdir, check=True, capture_output=True, text=True, timeout=300).stdout
    return [tuple(line.split("\t")) for line in out.splitlines()]


@pytest.mark.workflow
def test_each_job_is_bound_to_its_familys_image(tmp_path):
    """predict runs in its model's family image, the CPU analysis rules in base, any other rule in some image
    that has a recipe (rules added by other stages choose their own)."""
    config = workflow_config()
    configured = check_config(config)
    family_of = {name: spec.family for name, spec in configured.items()}
    family_of.update({name: spec.family for name, spec in merge_plan(config, configured, "results/demo").specs.items()})
    rows = job_images(tmp_path)
    assert {rule for rule, _, _ in rows} >= {"build_benchmark", "predict", "predict_cpu", "score", "table1"}
    for rule, wildcards, image in rows:
        if rule == "all":
            assert image == "", "the target rule runs nothing and needs no image"
            continue
        if rule in ("predict", "predict_cpu"):
            model = dict(kv.split("=", 1) for kv in wildcards.split(","))["model"]
            assert image == f"containers/{FAMILIES[family_of[model]].container}.sif", f"{model} runs in {image}"
        elif rule in ("build_benchmark", "score", "score_cpu", "table1"):
            assert image == "containers/base.sif", f"{rule} {wildcards} runs in {image}"
        name = re.fullmatch(r"containers/(.+)\.sif", image)
        assert name and (CONTAINERS / f"{name[1]}.def").exists(), f"{rule} {wildcards}: no recipe for {image!r}"


@pytest.mark.workflow
def test_dry_run_with_apptainer_plans_through_the_stand_in(tmp_path):
    """`snakemake -n --use-apptainer` refuses to start without an apptainer binary; with the stand-in first on
    PATH it plans the whole demo with every image (a dry run only asks for the version)."""
    env = {**os.environ, "PATH": f"{STAND_IN.parent}{os.pathsep}{os.environ['PATH']}"}
    result = snakemake(copy_workflow(tmp_path), "-n", "--use-apptainer", "--forceall", env=env, timeout=300)
    assert "predict" in result.stdout and "table1" in result.stdout


def test_make_test_containers_stops_with_the_reason_without_root():
    """Not root: exit 2 with the reason, before anything is installed or built (CI runs it as root)."""
    command = ["bash", str(REPO / "tests" / "containers" / "run.sh")]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root and setpriv is missing: cannot drop to an unprivileged user")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "needs root" in proc.stderr and "apt-get" in proc.stderr
