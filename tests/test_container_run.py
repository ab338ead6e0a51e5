"""The demo with every job inside the image its rule names equals the demo in the venv, byte for byte.

`make test-containers` (tests/containers/run.sh) builds every image from the shipped recipes with podman (each
recipe's %test runs on its image), then runs this file. The default workflow (config.yaml) runs twice from
copies of the checkout: once in the venv, once with `snakemake --use-apptainer`, where Snakemake plans and
launches each job exactly as on a cluster and the test-only `apptainer` stand-in (tests/containers/apptainer,
first on PATH) runs the job's command in the podman image built from containers/<name>.def, with the network
off. Apptainer itself cannot be installed on these machines: no claim here is about Apptainer's own runtime.

Runs only when MUBENCH_CONTAINER_TESTS=1 (set by `make test-containers`); `make test` skips it with that reason.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import DEMO_FIGURES, REPO, copy_workflow, load_bindings, snakemake

pytestmark = pytest.mark.workflow  # runs Snakemake (the demo twice); make test-fast never collects it

STAND_IN_DIR = REPO / "tests" / "containers"
COMPARED_TABLES = ["table1.csv", "table19.csv", "table18_grit.csv", "table13_linear_probe.csv", "significance.csv"]
SCRIPT = re.compile(r"\.snakemake/scripts/tmp\w+?\.(\w+\.py)\b")

if os.environ.get("MUBENCH_CONTAINER_TESTS") != "1":
    pytest.skip("runs in `make test-containers` (builds the images with podman first; needs root)",
                allow_module_level=True)

loader = importlib.machinery.SourceFileLoader("def2oci", str(REPO / "containers" / "def2oci.py"))
def2oci = importlib.util.module_from_spec(importlib.util.spec_from_loader("def2oci", loader))
sys.modules["def2oci"] = def2oci
loader.exec_module(def2oci)
# the images built now (tests/containers/run.sh builds some, checks them and removes them before the others: disk)
IMAGES = os.environ.get("MUBENCH_CONTAINER_IMAGES", "").split() or def2oci.build_order(
    [p.stem for p in sorted((REPO / "containers").glob("*.def"))])


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], check=True, capture_output=True, text=True, timeout=600).stdout


def record_time(step: str, seconds: float) -> None:
    """One line for the summary tests/containers/run.sh prints at the end."""
    timings = os.environ.get("MUBENCH_CONTAINER_TIMINGS")
    if timings:
        with open(timings, "a") as stream:
            stream.write(f"{step}\t{seconds:.0f}\n")


@pytest.fixture(scope="module")
def image_ids() -> dict[str, str]:
    ids = {}
    for name in IMAGES:
        ref = def2oci.image_ref(name)
        try:
            ids[name] = podman("image", "inspect", "--format", "{{.Id}}", ref).strip()
        except subprocess.CalledProcessError:
            pytest.fail(f"image {ref} is not built: run `make test-containers` (containers/build.sh builds it)")
    return ids


def point_at_images(workdir: Path, image_ids: dict[str, str]) -> None:
    """containers/<name>.sif in the copy: the stand-in's pointer to the podman image of containers/<name>.def."""
    for name, image_id in image_ids.items():
        (workdir / "containers").mkdir(exist_ok=True)
        (workdir / "containers" / f"{name}.sif").write_text(f"podman-image {image_id} {def2oci.image_ref(name)}\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, image_ids) -> dict[str, Path]:
    """The default workflow once in the venv and once with every job in its image (--cores 2 each)."""
    venv = copy_workflow(tmp_path_factory.mktemp("venv"))
    started = time.monotonic()
    snakemake(venv, timeout=1800)
    record_time("demo in the venv (snakemake --cores 2)", time.monotonic() - started)

    inside = copy_workflow(tmp_path_factory.mktemp("apptainer"))
    point_at_images(inside, image_ids)
    log = inside.parent / "stand-in.jsonl"
    env = {**os.environ, "PATH": f"{STAND_IN_DIR}{os.pathsep}{os.environ['PATH']}", "MUBENCH_STANDIN_LOG": str(log)}
    started = time.monotonic()
    snakemake(inside, "--use-apptainer", env=env, timeout=2400)
    record_time("demo inside the images (snakemake --cores 2 --use-apptainer)", time.monotonic() - started)
    return {"venv": venv, "inside": inside, "log": log}


@pytest.mark.parametrize("table", COMPARED_TABLES)
def test_table_from_the_images_equals_the_venvs(runs, table):
    venv, inside = runs["venv"] / DEMO_FIGURES / table, runs["inside"] / DEMO_FIGURES / table
    assert inside.read_bytes() == venv.read_bytes(), f"{table} differs between the venv and the images"


def test_every_csv_table_from_the_images_equals_the_venvs(runs):
    """Beyond the five tables above: every CSV the demo writes into paper_figures/."""
    venv, inside = runs["venv"] / DEMO_FIGURES, runs["inside"] / DEMO_FIGURES
    names = sorted(p.name for p in venv.glob("*.csv"))
    assert names == sorted(p.name for p in inside.glob("*.csv")) and len(names) > len(COMPARED_TABLES)
    assert [n for n in names if (venv / n).read_bytes() != (inside / n).read_bytes()] == []


def test_every_job_ran_in_the_image_its_rule_names(runs):
    """Snakemake launched each planned job through `apptainer exec` with the image of its rule's `container:`,
    and nothing else ran in a container."""
    launched = Counter()
    for line in runs["log"].read_text().splitlines():
        call = json.loads(line)
        script = SCRIPT.search(" ".join(call["command"]))
        assert script, f"a container ran something other than a rule's script: {call['command']}"
        name = re.fullmatch(r"containers/(.+)\.sif", call["image"])[1]
        assert call["podman_image"] == def2oci.image_ref(name)
        launched[(call["image"], script[1])] += 1
    jobs = load_bindings().planned_jobs(runs["inside"] / "Snakefile", [])
    planned = Counter((job.container_img_url, Path(job.rule.script).name) for job in jobs if job.rule.script)
    assert all(image for image, _ in planned), "every job with a script names an image"
    assert launched == planned


def test_jobs_inside_the_images_have_no_network(runs):
    """The stand-in runs every job with the network off: nothing in the demo needs it."""
    probe = "import socket; socket.create_connection(('pypi.org', 443), timeout=5)"
    env = {**os.environ, "PATH": f"{STAND_IN_DIR}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["apptainer", "exec", "containers/base.sif", "python", "-c", probe], cwd=runs["inside"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and ("gaierror" in result.stderr or "unreachable" in result.stderr), result.stderr


@pytest.mark.parametrize("name", IMAGES)
def test_every_installed_package_is_held_by_the_images_lock(image_ids, name):
    """Nothing floats: each package in the image is installed at the version its lock pins (requirements.lock,
    overridden or extended by containers/<name>.lock, for the image and the ones it starts from)."""
    lock = {}
    for path in [REPO / "requirements.lock"] + [REPO / "containers" / f"{n}.lock" for n in chain_names(name)]:
        if path.exists():
            lock.update(read_pins(path.read_text()))
    frozen = read_pins(podman("run", "--rm", "--network=none", "--entrypoint", "/opt/venv/bin/pip", image_ids[name],
                              "freeze", "--all", "--exclude", "mubench", "--exclude", "pip"))
    assert frozen, f"{name}: pip freeze listed nothing"
    unpinned = {package: version for package, version in frozen.items() if lock.get(package) != version}
    assert not unpinned, f"{name}: installed at versions no lock pins: {unpinned}"


def chain_names(name: str) -> list[str]:
    names = [name]
    while def2oci.load(names[0]).parent:
        names.insert(0, def2oci.load(names[0]).parent)
    return names


def read_pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$", line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins
