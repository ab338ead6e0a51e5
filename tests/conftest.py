"""Shared fixtures: a tiny prepared benchmark in the DESIGN §2 schema, built in the test's temp dir."""

from __future__ import annotations

import atexit
import copy
import hashlib
import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Each test process, and every workflow it starts, gets its own empty Hugging Face cache, set before huggingface_hub
# is imported (it reads HF_HOME once, at import): no test reads or fills the user's cache, and the hub tests lay their
# snapshots into this one exactly as a download would (tests/test_models.py, tests/test_hf_contrastive.py).
HF_HOME = Path(tempfile.mkdtemp(prefix="mubench-tests-hf-home-"))
atexit.register(shutil.rmtree, HF_HOME, ignore_errors=True)
os.environ["HF_HOME"] = str(HF_HOME)
os.environ.pop("HF_HUB_CACHE", None)
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub request must fail at once, never hang in retries

import numpy as np  # noqa: E402  (these after the environment above)
import pandas as pd
import pytest
import yaml
from PIL import Image

from mubench.benchmark.tables import write_table
from mubench.config import section_with_defaults, validate_config
from mubench.io import write_json
from mubench.scoring.accuracy import BootstrapSettings, accuracy_table

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "schemas" / "config.schema.yaml"


def hub_snapshot(repo_id: str, revision: str) -> Path:
    """An empty snapshot folder of model ``repo_id`` at ``revision`` in this process's HF cache, laid out as
    huggingface_hub downloads it (refs/main names the revision), for a test to fill."""
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_CACHE == str(HF_HOME / "hub"), "huggingface_hub read HF_HOME too early"
    repo = HF_HOME / "hub" / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return repo / "snapshots" / revision


def config_section(section: str, **values) -> dict:
    """Config ``section`` (dotted: ``probe.features``) as the workflow sees it: ``values`` over the schema's defaults,
    so no test restates a default."""
    return section_with_defaults(SCHEMA, section, values)


def bootstrap_settings(**values) -> BootstrapSettings:
    """The config's bootstrap settings (seed 0 unless given) with ``values`` changed."""
    return BootstrapSettings(**config_section("bootstrap", **{"seed": 0, **values}))


EXCLUDED_DATASETS = config_section("report")["excluded_datasets"]  # the "without_excluded" scope's default


def scores_table(predictions, *, bootstrap: BootstrapSettings | None = None, excluded_datasets=EXCLUDED_DATASETS):
    """accuracy_table with the config's defaults for what a test does not set."""
    return accuracy_table(predictions, bootstrap=bootstrap or bootstrap_settings(), excluded_datasets=excluded_datasets)


def with_merging_defaults(config: dict) -> dict:
    """A partial test config whose ``merging`` section carries the schema's defaults, as merge_plan receives it."""
    return {**config, "merging": config_section("merging", **config["merging"])}


def workflow_config(config: dict | None = None) -> dict:
    """``config`` (default: the shipped config.yaml) as the workflow reads it: validated, the schema's defaults
    filled in."""
    config = yaml.safe_load((REPO / "config.yaml").read_text()) if config is None else copy.deepcopy(config)
    validate_config(config, SCHEMA, "/nonexistent/config_validation.log")
    return config


def _image_row(root: Path, image_id: str, pixels: np.ndarray, dataset: str) -> dict:
    path = root / "images" / f"{image_id}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return dict(
        image_id=image_id, dataset=dataset, label_name="x", modality="light microscopy",
        submodality="brightfield microscopy", domain="pathology", subdomain="surgical pathology", stain="H&E",
        split="test", synthetic=True, license="CC0", microns_per_pixel=None,
        md5=hashlib.md5(path.read_bytes()).hexdigest(), path=f"images/{image_id}.png",
    )


def make_tiny_benchmark(root: Path, n_images: int = 12, seed: int = 0) -> Path:
    """Images with five coarse questions each (captions shared across images, like the real benchmark),
    one fine question and one cognition question each."""
    rng = np.random.default_rng(seed)
    images, questions = [], []
    coarse_options = ["light microscopy", "fluorescence microscopy", "electron microscopy", "none of the above"]
    for i in range(n_images):
        image_id = f"img{i:03d}"
        images.append(_image_row(root, image_id, rng.integers(0, 255, (48, 48, 3), dtype=np.uint8), "ds_a"))
        for qtype in ("modality", "submodality", "domain", "subdomain", "stain"):
            questions.append(dict(
                question_id=f"{image_id}:{qtype}", image_id=image_id, subset="coarse", question_type=qtype,
                dataset="ds_a", question=f"What is the {qtype}?", options=coarse_options,
                answer_idx=int(rng.integers(0, 4)),
                captions=[f"A microscopy image obtained through {o}." for o in coarse_options],
                caption_key=qtype, caption_variants={},
            ))
        fine = ["round", "elongated", "irregular"]
        questions.append(dict(
            question_id=f"{image_id}:classification", image_id=image_id, subset="fine",
            question_type="classification", dataset="ds_b" if i % 2 else "ds_a", question="Which shape?",
            options=fine, answer_idx=i % 3, captions=[f"A cell with {c} shape." for c in fine],
            caption_key="classification_1", caption_variants={},
        ))
        counts = [str(n) for n in range(i, i + 5)] + ["None of the above"]
        questions.append(dict(
            question_id=f"{image_id}:cognition", image_id=image_id, subset="cognition", question_type="cognition",
            dataset="ds_a", question="How many nuclei are visible?", options=counts, answer_idx=i % 6,
            captions=[], caption_key="", caption_variants={},
        ))
    write_table(pd.DataFrame(images), "images", root / "images.parquet")
    write_table(pd.DataFrame(questions), "questions", root / "questions.parquet")
    write_table(pd.DataFrame(columns=["image_id", "dataset", "class_name", "boxes", "difficulty"]),
                "detection", root / "detection.parquet")
    write_json(root / "manifest.json", {"source": "test", "revision": "none", "seed": seed})
    return root


@pytest.fixture
def tiny_benchmark(tmp_path: Path) -> Path:
    return make_tiny_benchmark(tmp_path / "bench")


def checkout_entries() -> set[str] | None:
    """Untracked and ignored paths of the checkout as ``git status`` lists them (an ignored folder as one entry),
    leaving out Python's and pytest's own caches; None when the tests do not run from a git checkout."""
    try:
        listed = subprocess.run(["git", "status", "--porcelain", "--ignored", "-z", "."], cwd=REPO, check=True,
                                capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    paths = {entry[3:] for entry in listed.split("\0") if entry[:2] in ("??", "!!")}
    return {path for path in paths if not {"__pycache__", ".pytest_cache"} & set(Path(path).parts)}


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean():
    """Fails the session when a test left files in the checkout it tests (``.snakemake/``, ``results/``, ...).

    git lists a new ignored folder as one entry, so a write inside an ignored folder that existed before the
    session is not seen; on a clean clone (CI) every stray output is."""
    before = checkout_entries()
    yield
    if before is not None:
        new = sorted(checkout_entries() - before)
        assert not new, (f"{new} appeared in the checkout {REPO} during the tests: a test must run workflows in a "
                         f"copy (conftest.copy_workflow) or with --directory <tmp_path>, and write only under tmp_path")


# The tiny random open_clip model every scoring test uses (a real open_clip architecture, mubench-tiny-ViT).
TINY_OPEN_CLIP = {"family": "open_clip", "architecture": "mubench-tiny-ViT", "pretrained": None, "seed": 0}


def tiny_open_clip_spec(name: str = "tiny", **entry):
    """The tiny open_clip model's spec (``entry`` changes its config entry)."""
    from mubench.models import ModelSpec

    return ModelSpec.from_config({"name": name, **TINY_OPEN_CLIP, **entry})


def tiny_open_clip(name: str = "tiny", **entry):
    """The tiny open_clip model, loaded on the CPU."""
    from mubench.models.open_clip_family import OpenClipModel

    return OpenClipModel(tiny_open_clip_spec(name, **entry))


SNAKEMAKE = Path(sys.executable).parent / "snakemake"
DEMO_FIGURES = Path("paper_figures") / "demo"  # config.yaml's artefacts, under a workflow folder (rules/common.smk)
WORKFLOW_FILES = ["Snakefile", "config.yaml", "configs", "rules", "scripts", "schemas", "profiles", "report",
                  "paper_figures/reference", "paper_figures/published", "paper_figures/README.md"]


def copy_workflow(dest: Path) -> Path:
    """The workflow's files (not results, logs or .snakemake) in ``dest``, so a run never touches the checkout."""
    for name in WORKFLOW_FILES:
        src, dst = REPO / name, dest / name
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    return dest


def load_bindings():
    """containers/bindings.py as a module: its ``planned_jobs`` builds a workflow's DAG through snakemake's API."""
    require_workflow_mark("Snakemake's API (containers/bindings.py)")
    spec = importlib.util.spec_from_file_location("bindings", REPO / "containers" / "bindings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snakemake(workdir: Path, *args: str, cores: int | None = 2, check: bool = True, env: dict | None = None,
              timeout: int = 1800) -> subprocess.CompletedProcess:
    """``snakemake --cores N *args`` in ``workdir`` (``cores=None``: as the profile says); the one way tests run
    Snakemake. Fails the test with the output's tail unless ``check=False``."""
    require_workflow_mark("Snakemake")
    result = subprocess.run([str(SNAKEMAKE), *(["--cores", str(cores)] if cores else []), *args], cwd=workdir,
                            capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


class Started:
    """A Snakemake run going on in the background (``snakemake_started``): ``finish()`` waits for it."""

    def __init__(self, workdir: Path, args: tuple[str, ...], env: dict | None):
        self.output = workdir / "snakemake_console.txt"
        with open(self.output, "w") as out:
            self.process = subprocess.Popen([str(SNAKEMAKE), *args], cwd=workdir, stdout=out,
                                            stderr=subprocess.STDOUT, env=env)

    def finish(self, timeout: int) -> tuple[int, str]:
        """(exit code, console output) once the run ends; killed after ``timeout`` seconds."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"snakemake still running after {timeout} s:\n{self.output.read_text()[-3000:]}")
        return code, self.output.read_text()

    def stop(self) -> None:
        """End the run at once (the test failed elsewhere and will not read it)."""
        self.process.kill()
        self.process.wait()


def snakemake_started(workdir: Path, *args: str, env: dict | None = None) -> Started:
    """``snakemake *args`` started in ``workdir`` without waiting: a test that mostly waits on a run (SLURM's
    polling) does other work meanwhile, such as asking for the shared demo run (mark it ``reads``)."""
    require_workflow_mark("Snakemake")
    return Started(workdir, args, env)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """ONE run of the default workflow (config.yaml) shared by every test that checks the demo's outputs."""
    workdir = copy_workflow(tmp_path_factory.mktemp("demo"))
    snakemake(workdir)
    return workdir


# ---------------------------------------------------------------------------------------------------------------
# How the suite is split and spread over processes (make test: pytest-xdist, --dist loadgroup; make test-fast).
#
# - Every test that runs Snakemake (a run, a dry run, the DAG through its API) or reads the shared demo run is
#   marked `workflow`; `make test-fast` runs the rest. A test that reads `demo_run` is marked here; one that calls
#   `snakemake()` or `load_bindings()` without the mark fails, naming the mark to add.
# - Tests that share a fixture broader than one test (the demo run, a module's workflow runs) run in ONE worker
#   process, so each such fixture is built once: they get one xdist_group per set of tests linked by such fixtures.
#   Session fixtures that are cheap and safe to build in every worker are listed in PER_WORKER_FIXTURES.
# - A test that asks for a shared run in its body (request.getfixturevalue), so that its own waiting overlaps the
#   run being made, names it with @pytest.mark.reads(...): it joins the run's group and runs first in it.
# - Tests run longest first (groups, then other workflow tests, then unit tests), so the 2 workers end together.

SHARED_RUN_FIXTURES = {"demo_run"}  # session fixtures that run Snakemake: their tests are `workflow` tests
PER_WORKER_FIXTURES = {"chromium"}  # found or installed once per machine; each worker may ask on its own


def _shared_fixtures(item) -> set[tuple[str, str]]:
    """(scope key, name) of every fixture broader than a test that ``item`` requests, directly or through other
    fixtures, among those defined in tests/ (pytest's own, such as tmp_path_factory, are not shared state)."""
    definitions = dict(item._fixtureinfo.name2fixturedefs)
    todo, seen, shared = list(item._fixtureinfo.argnames), set(), set()
    for mark in (*item.iter_markers("usefixtures"), *item.iter_markers("reads")):
        todo += mark.args
    for mark in item.iter_markers("reads"):  # asked for in the test's body: not in its fixture closure
        definitions.update({name: item.session._fixturemanager.getfixturedefs(name, item) for name in mark.args})
    while todo:
        name = todo.pop()
        if name in seen or not definitions.get(name):
            continue
        seen.add(name)
        fixture = definitions[name][-1]
        todo += fixture.argnames
        defined_in = Path(inspect.getfile(fixture.func)).resolve()
        if fixture.scope == "function" or name in PER_WORKER_FIXTURES or REPO / "tests" not in defined_in.parents:
            continue
        owner = {"session": "", "package": str(defined_in.parent)}.get(fixture.scope, item.nodeid.split("::")[0])
        shared.add((owner, name))
    return shared


@pytest.hookimpl(tryfirst=True)  # before -m deselects by mark
def pytest_collection_modifyitems(config, items):
    parent: dict = {}

    def root(key):
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    shared = {item: _shared_fixtures(item) for item in items}
    for keys in shared.values():
        for key in keys:
            parent[root(key)] = root(min(keys))
    for item, keys in shared.items():
        if SHARED_RUN_FIXTURES & {name for _, name in keys}:
            item.add_marker(pytest.mark.workflow)
        if keys:
            owner, name = root(min(keys))
            item.add_marker(pytest.mark.xdist_group(f"{Path(owner).name or 'session'}:{name}"))
    # Longest first, so that no worker is left with a long run at the end: tests that overlap a shared run with
    # their own waiting, then the groups that share runs, then the other workflow tests, then the unit tests
    # (stable: otherwise as collected; xdist hands out the groups in this order).
    items.sort(key=lambda item: [item.get_closest_marker(m) is None for m in ("reads", "xdist_group", "workflow")])


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's worker sends the collected node ids
def pytest_collection_finish(session):
    """--dist loadgroup schedules by the ``@group`` suffix of each node id. pytest-xdist 3.8 adds it by setting
    ``item._nodeid``, which pytest 9 no longer reads (a node's id is ``item._id``), so every test was scheduled on
    its own and each worker ran the demo again: add the suffix where it is missing."""
    if not getattr(session.config.option, "loadgroup", False):  # set on xdist workers alone
        return
    from _pytest.nodeid import coerce_node_id

    for item in session.items:
        mark = item.get_closest_marker("xdist_group")
        if mark and not item.nodeid.endswith(f"@{mark.args[0]}"):
            item._id = coerce_node_id(f"{item.nodeid}@{mark.args[0]}")


def pytest_sessionstart(session):
    """Each pytest-xdist worker gets its share of the cores for torch and BLAS in this process (subprocesses, such
    as workflow jobs, keep their own settings): two workers with two threads each on two cores spent a quarter of
    `make test-fast`'s CPU time waiting on each other's threads (115 s of CPU against 89 s)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch
        from threadpoolctl import threadpool_limits

        from mubench.answering.prefetch import usable_cores

        share = max(1, usable_cores() // workers)
        torch.set_num_threads(share)
        threadpool_limits(share)  # numpy's and torch's OpenMP/BLAS pools, for the rest of the session


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """A pytest-xdist worker ends right after this: freeze its objects so the interpreter's last collections skip
    them (as mubench.logs.job does for a job); the run waited 3 s for its workers' exit without it."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import gc

        gc.freeze()


_running: dict[str, pytest.Item] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _running["item"] = item  # fixtures too run Snakemake in the setup of the test that first needs them


def require_workflow_mark(what: str) -> None:
    """Fails the running test unless it is marked `workflow` (or `slurm`): `make test-fast` must run no Snakemake."""
    item = _running.get("item")
    if item is not None and not any(item.get_closest_marker(mark) for mark in ("workflow", "slurm")):
        pytest.fail(f"{item.nodeid} runs {what}: mark it @pytest.mark.workflow (or the module with pytestmark = "
                    f"pytest.mark.workflow) so that `make test-fast` leaves it out", pytrace=False)
