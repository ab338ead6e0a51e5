"""The demo's Table 1 made through a real one-node SLURM cluster (tests/slurm/cluster_up.sh) equals a local run's.

Runs only in CI (CI=true) as root, where the cluster can be brought up from Debian packages; anywhere else it is
skipped with the reason (shown by pytest -ra). A local run plus the SLURM run: 2–5 minutes on 2 busy cores.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SLURM_TOOLS = Path(__file__).resolve().parent / "slurm"
# Table 1 only: the run stays a few minutes however many stages the default target grows
COMPARED_TABLES = ["paper_figures/table1.csv", "paper_figures/table1_breakdown.csv"]

pytestmark = pytest.mark.slurm


def _why_not_runnable() -> str | None:
    if os.environ.get("CI") != "true":
        return "SLURM integration test runs only in CI (set CI=true); it installs and starts SLURM daemons"
    if os.geteuid() != 0:
        return "SLURM integration test needs root to start munged/slurmctld/slurmd"
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        return "SLURM is not installed and apt-get is unavailable to install it"
    return None


def copy_workflow(dest: Path) -> Path:
    """A private copy of the repository's files (tracked or new, never ignored outputs), so runs never touch
    /work/main's results or locks."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def write_test_profile(workdir: Path) -> Path:
    """profiles/slurm with this one-node cluster's site values and fast polling.

    Changed on purpose: partition `debug`, no GPU request (the node has none), small memory, no Apptainer
    (not installable here, so this run uses the venv), status polling every second, successful logs kept, no
    retries (a failure must fail the test at once). Everything else — groups, localrules, status command — is
    the shipped profile's.
    """
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    profile["default-resources"].update(slurm_partition="debug", mem_mb=2000, runtime=10, cpus_per_task=1)
    predict = profile["set-resources"]["predict"]
    predict.pop("gpu")
    predict.update(slurm_partition="debug", mem_mb=2000, runtime=10, cpus_per_task=1)  # two jobs at once
    for key in ("software-deployment-method", "apptainer-args"):
        profile.pop(key)
    profile.update({
        "jobs": 2, "retries": 0, "latency-wait": 5,
        "seconds-between-status-checks": 1, "slurm-init-seconds-before-status-checks": 1,
        "slurm-keep-successful-logs": True,
    })
    path = workdir / "profiles/slurm-test/config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path.parent


def run_snakemake(workdir: Path, args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run([str(SNAKEMAKE), *args], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=600)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        slurm_logs = "".join(f"\n--- {log}\n{log.read_text()[-3000:]}"
                             for log in sorted((workdir / ".snakemake/slurm_logs").rglob("*.log")))
        pytest.fail(f"snakemake {' '.join(args)} failed in {workdir}:\n{output[-6000:]}{slurm_logs}")
    return output


@pytest.fixture
def private_tmp():
    """A temp dir outside pytest's basetemp, which a concurrent pytest's retention sweep may delete mid-run."""
    with tempfile.TemporaryDirectory(prefix="mubench-slurm-") as path:
        yield Path(path)


@pytest.fixture
def slurm_env(private_tmp):
    reason = _why_not_runnable()
    if reason:
        pytest.skip(reason)
    state = private_tmp / "state"
    up = subprocess.run([str(SLURM_TOOLS / "cluster_up.sh"), str(state)], capture_output=True, text=True,
                        timeout=300)
    try:
        assert up.returncode == 0, f"cluster_up.sh failed:\n{up.stdout}\n{up.stderr}"
        yield {**os.environ, "SLURM_CONF": str(state / "slurm.conf"), "HF_HUB_OFFLINE": "1"}
    finally:
        subprocess.run([str(SLURM_TOOLS / "cluster_down.sh"), str(state)], check=True, timeout=60)


def test_demo_through_slurm_equals_local_run(slurm_env, private_tmp):
    local = copy_workflow(private_tmp / "local")
    run_snakemake(local, ["--cores", "2", *COMPARED_TABLES], slurm_env)

    cluster = copy_workflow(private_tmp / "cluster")
    profile = write_test_profile(cluster)
    output = run_snakemake(cluster, ["--profile", str(profile), *COMPARED_TABLES], slurm_env)

    # "… submitted with SLURM jobid 7 (log: …/slurm_logs/<rule_x or group_y>/…)": what went through SLURM
    submitted = dict(re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/([^/]+)/", output))
    config = yaml.safe_load((cluster / "config.yaml").read_text())
    per_model_and_subset = len(config["models"]) * len(config["subsets"])
    assert sorted(submitted.values()) == ["group_model_subset_predict_score"] * per_model_and_subset + [
        "rule_build_benchmark"], f"one job per (model, subset) plus the benchmark build expected:\n{output[-4000:]}"
    states = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i %T", "--jobs", ",".join(submitted)],
        env=slurm_env, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert dict(zip(states[::2], states[1::2])) == {job_id: "COMPLETED" for job_id in submitted}
    slurm_logs = {log.stem for log in (cluster / ".snakemake/slurm_logs").rglob("*.log")}
    assert slurm_logs == set(submitted), "every SLURM job leaves its own log"

    for table in COMPARED_TABLES:
        assert (cluster / table).read_bytes() == (local / table).read_bytes(), f"{table} differs from local run"
