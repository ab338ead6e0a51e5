"""A bad config stops the run before any job, with a message naming the key."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mubench.config import ConfigError, check_config

REPO = Path(__file__).resolve().parent.parent
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def dry_run(config: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [str(SNAKEMAKE), "-n", "--cores", "1", "--configfile", str(path), "--directory", str(tmp_path),
         "--snakefile", str(REPO / "Snakefile")],
        capture_output=True, text=True, timeout=120,
    )


def mutated(mutate) -> dict:
    config = copy.deepcopy(DEFAULT)
    mutate(config)
    return config


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c["inference"].update(batchsize=8), "'batchsize' was unexpected"),
        (lambda c: c["models"][1].update(family="openclip"), "'openclip' is not one of"),
        (lambda c: c["models"][1].pop("architecture"), "'architecture' is a required property"),
        (lambda c: c["models"][1].update(pretrianed=None), "'pretrianed' was unexpected"),
        (lambda c: c["bootstrap"].pop("seed"), "'seed' is a required property"),
        (lambda c: c.update(subsets=["coarse", "detection"]), "'detection' is not one of"),
        (lambda c: c["models"].append(dict(c["models"][0])), "'Random' is used by more than one model"),
    ],
    ids=["typo-key", "unknown-family", "missing-field", "typo-model-key", "missing-seed", "bad-subset",
         "duplicate-name"],
)
def test_bad_config_stops_before_any_job(mutate, expected, tmp_path):
    result = dry_run(mutated(mutate), tmp_path)
    assert result.returncode != 0
    assert expected in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


def test_default_config_plans_one_job_per_model(tmp_path):
    """predict and score are one job per model (every subset in it); trained and merged models are predicted too."""
    result = dry_run(DEFAULT, tmp_path)
    assert result.returncode == 0, result.stderr
    n_models = len(DEFAULT["models"])
    merging = DEFAULT["merging"]
    n_merging = len(merging["train"]["models"]) + len(merging["pairs"]) * len(merging["alphas"])
    for rule, count in [("build_benchmark", 1), ("predict", n_models + n_merging), ("score", n_models),
                        ("table1", 1)]:
        assert any(line.split()[:2] == [rule, str(count)] for line in result.stdout.splitlines()), result.stdout


def test_check_config_rejects_unknown_family_directly():
    config = mutated(lambda c: c["models"][0].update(family="gpt"))
    with pytest.raises(ConfigError, match=r"models\[0\].*unknown family 'gpt'"):
        check_config(config)
