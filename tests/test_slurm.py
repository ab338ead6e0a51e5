"""The demo's Table 1 made through a real one-node SLURM cluster with the SHIPPED profile equals a local run's.

The cluster (tests/slurm/cluster_up.sh) is shaped like a university one: a default `cpu` partition, a `gpu`
partition and one simulated GPU (GresTypes=gpu, gres.conf with AutoDetect=off and /dev/null as the device). Its
node is declared larger than this machine (16 CPUs, 64 GiB, SlurmdParameters=config_overrides) so the profile's
model job — 8 CPUs, 48 GB, one GPU — is scheduled as written. The profile is copied and changed only as a site
changes it: the account, and the Apptainer lines (no Apptainer here). Resources, groups, polling, retries: as
shipped.

Runs only in CI (CI=true) as root, where the cluster can be brought up from Debian packages; anywhere else it is
skipped with the reason (shown by pytest -ra).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import yaml

from mubench.config import check_config

from conftest import REPO, copy_workflow, snakemake_started

SLURM_TOOLS = Path(__file__).resolve().parent / "slurm"
# Table 1 only: the run stays a few minutes however many stages the default target grows
COMPARED_TABLES = ["paper_figures/demo/table1.csv", "paper_figures/demo/table1_breakdown.csv"]
SITE_ACCOUNT = "mubench-ci"

pytestmark = pytest.mark.slurm


def _why_not_runnable() -> str | None:
    if os.environ.get("CI") != "true":
        return "SLURM integration test runs only in CI (set CI=true); it installs and starts SLURM daemons"
    if os.geteuid() != 0:
        return "SLURM integration test needs root to start munged/slurmctld/slurmd"
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        return "SLURM is not installed and apt-get is unavailable to install it"
    return None


def site_profile(workdir: Path) -> Path:
    """profiles/slurm as a site would use it here: its own account, no Apptainer lines. Nothing else changes."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    profile["default-resources"]["slurm_account"] = SITE_ACCOUNT
    for key in ("software-deployment-method", "apptainer-args"):
        profile.pop(key)
    path = workdir / "profiles/site/config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path.parent


def cluster_output(workdir: Path, run, args: list[str]) -> str:
    """The console output of a run through the cluster (the profile sets the jobs); a failure shows the SLURM logs
    too."""
    code, output = run.finish(timeout=900)
    if code != 0:
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


def submitted_jobs(output: str) -> dict[str, str]:
    """SLURM job id → what it ran ('rule_build_benchmark', 'group_Random_predict_cpu_score_cpu', …), from the
    executor's log lines: its log folder under .snakemake/slurm_logs/."""
    return dict(re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/([^/]+)/", output))


@pytest.mark.reads("demo_run")
def test_demo_through_shipped_profile_equals_local_run(slurm_env, private_tmp, request):
    """The cluster run spends most of its time waiting for SLURM's status checks (as shipped: every 30 s), so the
    shared local run is made meanwhile, unless an earlier test made it already."""
    cluster = copy_workflow(private_tmp / "cluster")
    args = ["--profile", str(site_profile(cluster)), *COMPARED_TABLES]
    run = snakemake_started(cluster, *args, env=slurm_env)
    try:
        demo_run = request.getfixturevalue("demo_run")
    except BaseException:
        run.stop()  # the local run failed: its error is the one to read
        raise
    output = cluster_output(cluster, run, args)

    submitted = submitted_jobs(output)
    models = check_config(yaml.safe_load((cluster / "config.yaml").read_text()))
    # one SLURM job per model (predict + score), named after the model, plus the benchmark build
    expected = {"rule_build_benchmark": ("cpu", "N/A", "2")}
    for name, spec in models.items():
        if spec.uses_accelerator:  # the profile's GPU request, honoured as written
            expected[f"group_{name}_predict_score"] = ("gpu", "gres:gpu:1", "8", "48000M")
        else:  # Random: no GPU held while it answers
            expected[f"group_{name}_predict_cpu_score_cpu"] = ("cpu", "N/A", "4")
    assert Counter(submitted.values()) == Counter(list(expected)), (
        f"one SLURM job per model plus the benchmark build expected:\n{output[-4000:]}")
    # every model's predict and score ran inside one of those group jobs, each model once
    grouped = re.findall(r"rule predict(?:_cpu)?:.*?wildcards: benchmark=demo, model=(\S+)", output, re.DOTALL)
    assert sorted(grouped) == sorted(models)

    rows = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--jobs", ",".join(submitted),
         "--Format=JobID:|,State:|,Partition:|,tres-per-job:|,NumCPUs:|,MinMemory:|,Account:|,Name:80|,Comment:80"],
        env=slurm_env, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    jobs = {row.split("|")[0].strip(): [field.strip() for field in row.split("|")[1:]] for row in rows}
    assert set(jobs) == set(submitted)
    for job_id, (state, partition, gres, cpus, memory, account, name, comment) in jobs.items():
        ran = submitted[job_id]
        assert state == "COMPLETED" and account == SITE_ACCOUNT, jobs[job_id]
        resources = (partition, gres, cpus, memory)[:len(expected[ran])]
        assert resources == expected[ran], (ran, jobs[job_id])
        # the queue shows whose jobs they are and, per job, the rule and model; the log is found by the same name
        assert name.startswith("mubench_"), jobs[job_id]
        assert comment == "rule_" + ran.removeprefix("group_").removeprefix("rule_"), (ran, comment)
        assert (cluster / ".snakemake/slurm_logs" / ran / f"{job_id}.log").is_file(), ran

    for table in COMPARED_TABLES:
        assert (cluster / table).read_bytes() == (demo_run / table).read_bytes(), f"{table} differs from local run"
