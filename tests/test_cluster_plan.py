"""What a cluster run plans and checks before it submits anything: SLURM jobs per model, and the preflight.

The dry runs use the SHIPPED profile with only the Apptainer lines removed (no Apptainer here), as a site would
plan on a login node without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from mubench.models import gpu_request

from conftest import REPO, copy_workflow, load_bindings, snakemake

MAX_JOBS_PER_MODEL = 3
MAX_AGGREGATE_JOBS = 6


def site_profile_without_apptainer(dest: Path) -> Path:
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    for key in ("software-deployment-method", "apptainer-args"):
        profile.pop(key)
    (dest / "config.yaml").parent.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


def local_rules() -> set[str]:
    """The Snakefile's `localrules:` (a dry run prints them as ordinary rules)."""
    block = re.search(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", (REPO / "Snakefile").read_text(), re.MULTILINE)
    return set(re.findall(r"\w+", block[1]))


def slurm_submissions(dry_run: str) -> list[tuple[str, frozenset[str]]]:
    """(what, models) for every job the SLURM executor would submit: group jobs and non-local rules.

    A job belongs to the models its wildcards name (model, merged or trained); none = an aggregate job."""
    local = local_rules()
    submissions = []
    for block in re.split(r"^\[[^\]\n]+\]", dry_run, flags=re.MULTILINE):
        head = block.strip().split("\n", 1)[0]
        if head.startswith("Group job"):
            what = f"group {head.split()[2]}"
        elif head.startswith("rule ") and head.split()[1].rstrip(":") not in local:
            what = head.split()[1].rstrip(":")
        else:
            continue  # localrules run on the submitting host; other blocks are summaries
        models = re.findall(r"wildcards: [^\n]*?\b(?:model|merged|trained)=([^,\s]+)", block)
        submissions.append((what, frozenset(models)))
    return submissions


def cognition_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "cell.png")
    (root / "questions.json").write_text(json.dumps([dict(
        image="cell.png", question="How many cells?", options=["1", "2", "None of the above"], answer_idx=0,
        subdomain="cell biology")]))
    return root


@pytest.mark.workflow
def test_paper_config_submits_at_most_three_slurm_jobs_per_model(tmp_path):
    """configs/paper.yaml (uBench + cognition folder) through profiles/slurm: one job per model (merged models
    included: predict → score is one job; one merge_weights per pair), detect for the detection models, a handful of
    aggregates."""
    overrides = tmp_path / "site.yaml"
    overrides.write_text(yaml.safe_dump({"benchmark": {"ubench": {
        "path": str(tmp_path / "ubench"), "cognition_path": str(cognition_folder(tmp_path / "cognition"))}}}))
    profile = site_profile_without_apptainer(tmp_path / "profile")
    (tmp_path / "run").mkdir()
    planned = snakemake(tmp_path / "run", "-n", "--profile", str(profile), "--snakefile", str(REPO / "Snakefile"),
                        "--configfile", str(REPO / "configs/paper.yaml"), str(overrides), timeout=600)
    assert "/cognition.parquet" in planned.stdout, "the cognition folder must put cognition in the plan"

    submissions = slurm_submissions(planned.stdout)
    per_model = Counter(model for _, models in submissions for model in models)
    aggregates = sorted(what for what, models in submissions if not models)
    config = yaml.safe_load((REPO / "configs/paper.yaml").read_text())
    configured = {m["name"] for m in config["models"]}
    assert configured <= set(per_model), f"models with no job: {configured - set(per_model)}"
    assert max(per_model.values()) <= MAX_JOBS_PER_MODEL, per_model.most_common(5)
    assert len(aggregates) <= MAX_AGGREGATE_JOBS, aggregates
    assert all(len(models) == 1 for _, models in submissions if models), "a job must never mix two models"

    # docs/cluster.md prints these numbers: keep them true
    docs = (REPO / "docs/cluster.md").read_text()
    n_models = len(per_model)
    stated = f"{len(submissions)} SLURM jobs for {n_models} models"
    assert stated in docs, f"docs/cluster.md should say {stated!r} (aggregates: {aggregates})"


@pytest.mark.workflow
@pytest.mark.parametrize("configfiles", [[], ["configs/paper.yaml"]], ids=["demo", "paper"])
def test_preflight_checks_every_image_the_jobs_run_in(configfiles, tmp_path):
    bindings = load_bindings()
    workdir = copy_workflow(tmp_path)  # the API works in the Snakefile's folder: never the checkout
    files = [workdir / c for c in configfiles]
    used = {Path(image).stem for _, _, image in bindings.job_images(workdir / "Snakefile", files) if image}
    [preflight] = bindings.planned_jobs(workdir / "Snakefile", files, ["preflight"])
    assert set(preflight.params.images) == used


def _shard(folder: Path, name: str, payload: bytes) -> str:
    """A stand-in shard file (preflight only finds and hashes shards; the conversion has its own tests)."""
    (folder / name).write_bytes(payload)
    return hashlib.sha256(payload).hexdigest()


@pytest.mark.workflow
def test_preflight_names_every_missing_item_in_one_run(tmp_path):
    """A missing model, a missing shard and a shard with the wrong hash: all three in one table, and the run fails.
    Through the SLURM profile, as `make check PROFILE=profiles/slurm` runs it: its `retries` must not repeat the
    table, and --show-failed-logs must not print it a second time."""
    release = tmp_path / "release"
    release.mkdir()
    good = _shard(release, "ubench-test-00000-of-00003.arrow", b"shard zero")
    _shard(release, "ubench-test-00001-of-00003.arrow", b"shard one, altered")
    workdir = copy_workflow(tmp_path / "run")
    config = {
        "benchmark": {"name": "site", "source": "ubench", "ubench": {"path": str(release), "sha256": {
            "ubench-test-00000-of-00003.arrow": good,
            "ubench-test-00001-of-00003.arrow": hashlib.sha256(b"shard one").hexdigest(),
            "ubench-test-00002-of-00003.arrow": "0" * 64}}},
        "models": [{"name": "Random", "family": "random", "seed": 0},
                   {"name": "PLIP", "family": "hf_clip", "model_id": "vinid/plip"}],
    }
    (workdir / "site.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "1"}
    profile = site_profile_without_apptainer(tmp_path / "profile")
    # the profile's 40 s wait before the first SLURM status check is for submitted jobs; the preflight submits none
    done = snakemake(workdir, "preflight", "--configfile", "site.yaml", "--profile", str(profile),
                     "--slurm-init-seconds-before-status-checks", "1", cores=1, check=False, env=env, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    lines = (workdir / "logs/preflight/site.log").read_text().splitlines()
    assert output.count(lines[0]) == 1, output  # the table once
    # wrapped at 120 columns; a path is never broken, so it counts as short as a user's would be (pytest's tmp
    # paths grow with the xdist worker's folder)
    short = [line.replace(str(tmp_path), "/tmp/x") for line in lines]
    assert max(len(line) for line in short) <= 120, max(short, key=len)
    table = dict(reversed(m.groups()) for m in map(re.compile(r"^(ok|MISSING|ERROR) +(.+?):(?: |$)").match, lines) if m)
    assert table["uBench shard ubench-test-00000-of-00003.arrow"] == "ok"
    assert table["uBench shard ubench-test-00001-of-00003.arrow"] == "ERROR"  # wrong SHA-256
    assert table["uBench shard ubench-test-00002-of-00003.arrow"] == "MISSING"
    assert table["model PLIP (hf_clip)"] == "MISSING"
    assert table["model Random (random)"] == "ok"
    assert "3 of 6 items not ready" in output
    assert "hf download vinid/plip" in output  # the remedy, not just the verdict
    text = " ".join(line.strip() for line in lines)  # as read, without the wrapping
    assert f"not in the HF cache {tmp_path / 'hf-home' / 'hub'} (HF_HOME={tmp_path / 'hf-home'})" in text
    assert not (workdir / "results/site/benchmark").exists(), "the preflight builds nothing"


def test_preflight_says_which_hf_cache_it_looked_in_when_hf_home_is_unset(tmp_path, monkeypatch):
    from mubench.models import ModelSpec
    from mubench.preflight import model_check

    for name in ("HF_HOME", "HF_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the default cache, kept inside the test's folder
    check = model_check(ModelSpec.from_config({"name": "PLIP", "family": "hf_clip", "model_id": "vinid/plip"}))
    assert check.status == "MISSING"
    assert f"not in the HF cache {tmp_path / 'huggingface' / 'hub'} (HF_HOME is unset, so the default)" in check.detail


def planned_jobs_with_resources(dry_run: str) -> list[tuple[str, str, int]]:
    """(rule, model or '', gpu) for every job a dry run prints."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:\n)", dry_run):
        head = re.match(r"(?:local)?rule (\w+):\n", block)
        if head:
            model = re.search(r"wildcards: [^\n]*?\b(?:model|merged|trained)=([^,\s]+)", block)
            gpu = re.search(r"resources: [^\n]*\bgpu=(\d+)", block)
            jobs.append((head[1], model[1] if model else "", int(gpu[1]) if gpu else 0))
    return jobs


@pytest.mark.workflow
def test_local_profile_runs_one_gpu_job_at_a_time(tmp_path):
    """A local paper run on a one-GPU workstation must not start several VLM jobs on its GPU at once: every job
    that may run a model on the accelerator asks for one `gpu`, and profiles/default (which a local run and a
    cluster run both read) provides one; profiles/slurm lets SLURM schedule the GPUs instead."""
    assert yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())["resources"] == ["gpu=1"]
    slurm = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert slurm["resources"] == [f"gpu={slurm['jobs']}"]
    workdir = copy_workflow(tmp_path)
    (workdir / "gpu_host.yaml").write_text(yaml.safe_dump({"inference": {"device": "cuda"},
                                                           "probe": {"features": {"device": "cuda"}}}))
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    torch_models = {m["name"] for m in config["models"] if m["family"] not in ("random", "prior")}
    blind = sorted(("predict_blind", name) for name in torch_models if next(
        m for m in config["models"] if m["name"] == name).get("blind"))
    assert blind  # the demo runs its model blind too: that job holds the GPU as well
    torch_models |= {m["name"] for m in config["merging"]["train"]["models"]}
    torch_models |= {f"M-DemoCLIP-a{alpha:g}" for alpha in config["merging"]["alphas"]}
    model_jobs = sorted([("predict", name) for name in torch_models] + blind + [("probe_features", "")])
    # with profiles/default, as shipped: on a GPU workstation (device pinned to cuda), and on this host (device: auto)
    for extra, asks in ((["--configfile", "gpu_host.yaml"], 1), ([], gpu_request("auto"))):
        jobs = planned_jobs_with_resources(snakemake(workdir, "-n", "--forceall", *extra).stdout)
        assert sorted((rule, model) for rule, model, gpu in jobs if gpu) == (model_jobs if asks else []), extra
        assert all(gpu == 0 for rule, _, gpu in jobs if rule in ("predict_cpu", "detect_cpu"))


def test_model_jobs_ask_for_a_gpu_only_where_they_can_use_one(tmp_path):
    """`device: auto` asks for the one `gpu` only on a host that shows one, so a CPU-only host runs its model jobs
    side by side; a pinned accelerator always asks, `cpu` never."""
    assert [gpu_request(device, markers=()) for device in ("auto", "cpu", "cuda", "cuda:1")] == [0, 0, 1, 1]
    (tmp_path / "gpus" / "0000:3b:00.0").mkdir(parents=True)
    assert gpu_request("auto", markers=(str(tmp_path / "gpus" / "*"),)) == 1
    assert gpu_request("cpu", markers=(str(tmp_path / "gpus" / "*"),)) == 0


@pytest.mark.workflow
def test_rule_files_do_not_depend_on_their_include_order(tmp_path):
    """Every rule file reads only rules/common.smk's settings and its own: reversed, they plan the same jobs."""
    shipped = copy_workflow(tmp_path / "shipped")
    reordered = copy_workflow(tmp_path / "reordered")
    text = (reordered / "Snakefile").read_text()
    includes = re.findall(r'^include: "rules/(?!common)\w+\.smk"\n', text, re.MULTILINE)
    assert len(includes) >= 10
    block = "".join(includes)
    assert block in text  # one run of include lines after common.smk
    (reordered / "Snakefile").write_text(text.replace(block, "".join(reversed(includes))))

    def plan(workdir):
        return sorted(planned_jobs_with_resources(snakemake(workdir, "-n", "--forceall").stdout))

    assert plan(reordered) == plan(shipped)
