"""Apptainer recipes (containers/*.def) and conda envs (envs/*.yaml) are checked statically: they parse, pin
exactly the lock's versions, cover every model family, and each workflow job resolves to its family's image.
No container is built or run here (Apptainer is not installable on this machine); see docs/cluster.md."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, copy_workflow, snakemake, workflow_config

from mubench.config import check_config
from mubench.analyses.merging.plan import merge_plan

from mubench.models.spec import FAMILIES

CONTAINERS = REPO / "containers"
DEFS = sorted(CONTAINERS.glob("*.def"))
GPU_IMAGES = {"openclip", "hf-vlm", "legacy-remote-code"}
SECTIONS = {"labels", "files", "post", "environment", "test", "runscript"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


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
    """requirements.lock, overridden by containers/<name>.lock where an image documents its own pins."""
    pins = read_lock(REPO / "requirements.lock")
    own = CONTAINERS / f"{name}.lock"
    return {**pins, **read_lock(own)} if own.exists() else pins


def parse_def(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(header keywords, section name → body) of an Apptainer definition file."""
    header, sections, current = {}, {}, None
    for line in path.read_text().splitlines():
        if line.startswith("%"):
            current = line[1:].split()[0]
            assert current not in sections, f"{path.name}: section %{current} twice"
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
        elif line.strip() and not line.startswith("#"):
            key, sep, value = line.partition(":")
            assert sep, f"{path.name}: header line {line!r} is not 'Keyword: value'"
            header[key.strip()] = value.strip()
    return header, sections


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


@pytest.mark.parametrize("path", DEFS, ids=lambda p: p.stem)
def test_definition_parses_with_pinned_base_and_sections(path):
    header, sections = parse_def(path)
    assert header.get("Bootstrap") == "docker", f"{path.name}: Bootstrap must be docker"
    image, _, tag = header["From"].rpartition(":")
    assert image and tag and tag != "latest", f"{path.name}: From must pin a tag, got {header['From']!r}"
    if path.stem in GPU_IMAGES:
        assert image == "nvidia/cuda", f"{path.stem} uses a GPU: it must start from a CUDA image"
    assert SECTIONS <= set(sections), f"{path.name}: missing sections {SECTIONS - set(sections)}"
    assert all(sections[name].strip() for name in SECTIONS), f"{path.name}: empty section"


@pytest.mark.parametrize("path", DEFS, ids=lambda p: p.stem)
def test_definition_installs_mubench_and_honours_cache_and_offline_settings(path):
    _, sections = parse_def(path)
    copied = dict(line.split() for line in sections["files"].strip().splitlines())
    assert copied.get("mubench") == "/opt/mubench/mubench", f"{path.name}: mubench must be copied in by %files"
    for source in copied:
        assert (REPO / source).exists(), f"{path.name}: %files source {source} does not exist"
    assert "--no-deps --no-build-isolation /opt/mubench" in sections["post"]
    for var in ("HF_HOME", "HF_HUB_OFFLINE", "TORCH_HOME"):
        # ${VAR:-default}: a value from the host or `apptainer --env` wins over the image's default
        assert f"export {var}=${{{var}:-" in sections["environment"], f"{path.name}: {var} not honoured"


@pytest.mark.parametrize("path", DEFS, ids=lambda p: p.stem)
def test_definition_pins_equal_the_lock(path):
    _, sections = parse_def(path)
    pins, lock = pip_pins(sections["post"]), image_lock(path.stem)
    assert pins, f"{path.name}: no pinned packages found"
    assert {name: lock.get(name) for name in pins} == pins, f"{path.name}: pins differ from the lock"
    assert "snakemake" in pins, f"{path.name}: `script:` rules need snakemake inside the image"


def test_legacy_image_keeps_the_old_transformers_its_remote_code_needs():
    lock = read_lock(CONTAINERS / "legacy-remote-code.lock")
    major, minor = (int(part) for part in lock["transformers"].split(".")[:2])
    assert (4, 35) <= (major, minor) < (4, 40), "Qwen-VL-Chat and CogVLM remote code need 4.35 ≤ transformers < 4.40"
    assert lock["transformers"] != read_lock(REPO / "requirements.lock")["transformers"]


def test_every_family_has_a_definition():
    missing = {family: f.container for family, f in FAMILIES.items() if not (CONTAINERS / f"{f.container}.def").exists()}
    assert not missing, f"families without containers/<name>.def: {missing}"


@pytest.mark.parametrize("path", DEFS, ids=lambda p: p.stem)
def test_conda_env_carries_the_same_pins(path):
    env = yaml.safe_load((REPO / "envs" / f"{path.stem}.yaml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_section = next(dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict))
    env_pins = {normalize(m[1]): m[2] for m in map(PIN.match, pip_section)}
    assert env_pins == pip_pins(parse_def(path)[1]["post"])


def job_images(workdir: Path) -> list[tuple[str, str, str]]:
    """bindings.py on a copy of the workflow in ``workdir`` (building the DAG writes .snakemake/ beside it)."""
    copy_workflow(workdir)
    out = subprocess.run([sys.executable, str(CONTAINERS / "bindings.py"), "--snakefile", str(workdir / "Snakefile")],
                         cwd=workdir, check=True, capture_output=True, text=True, timeout=300).stdout
    return [tuple(line.split("\t")) for line in out.splitlines()]


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


def test_dry_run_with_apptainer_or_the_reason_it_cannot_run(tmp_path):
    if not shutil.which("apptainer") and not shutil.which("singularity"):
        pytest.skip("apptainer is not installed: `snakemake -n --use-apptainer` refuses to start without it, "
                    "so the bindings are checked through snakemake's API (test_each_job_is_bound_to_its_familys_image)")
    snakemake(copy_workflow(tmp_path), "-n", "--use-apptainer", "--forceall", timeout=300)


def test_build_script_explains_a_missing_apptainer():
    if shutil.which("apptainer") or shutil.which("singularity"):
        pytest.skip("apptainer is installed here: the build script would really build")
    proc = subprocess.run([str(CONTAINERS / "build.sh"), "base"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "neither apptainer nor singularity" in proc.stderr
