"""A bad config stops the run before any job, with a message naming the key."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from mubench.config import ConfigError, check_config, read_config_file, validate_config

from conftest import copy_workflow, snakemake

REPO = Path(__file__).resolve().parent.parent
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())
SCHEMA = REPO / "schemas" / "config.schema.yaml"


def dry_run(config: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return snakemake(tmp_path, "-n", "--configfile", str(path), "--snakefile", str(REPO / "Snakefile"), cores=1,
                     check=False, timeout=120)


def mutated(mutate) -> dict:
    config = copy.deepcopy(DEFAULT)
    mutate(config)
    return config


TINY = "models[1] 'OpenCLIP-tiny-untrained'"


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c["inference"].update(batchsize=8),
         "inference: unknown key 'batchsize' — did you mean 'batch_size'?"),
        (lambda c: c["models"][1].update(family="openclip"),
         f"{TINY}, key 'family': 'openclip' is not one of random, prior, open_clip,"),
        (lambda c: c["models"][1].pop("architecture"),
         f"{TINY}: missing required key 'architecture' (family 'open_clip' needs it)"),
        (lambda c: c["models"][1].update(pretrianed=None),
         f"{TINY}: unknown key 'pretrianed' — did you mean 'pretrained'?"),
        (lambda c: c["bootstrap"].pop("seed"), "bootstrap: missing required key 'seed'"),
        (lambda c: c.update(subsets=["coarse", "detection"]),
         "subsets[1]: 'detection' is not one of coarse, fine, cognition"),
        (lambda c: c["models"].append(dict(c["models"][0])), "'Random' is used by more than one model"),
    ],
    ids=["typo-key", "unknown-family", "missing-field", "typo-model-key", "missing-seed", "bad-subset",
         "duplicate-name"],
)
@pytest.mark.workflow
def test_bad_config_stops_before_any_job(mutate, expected, tmp_path):
    result = dry_run(mutated(mutate), tmp_path)
    assert result.returncode != 0
    assert expected in result.stderr + result.stdout
    assert "Failed validating" not in result.stderr + result.stdout  # the schema dump stays in the log
    assert not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_schema_problems_come_first_and_short_with_the_detail_in_a_log(tmp_path):
    def typos(config):
        config["models"][1].update(family="openclip", pretrianed=None)

    result = dry_run(mutated(typos), tmp_path)
    output = result.stderr + result.stdout
    # Snakemake's own start-up lines, then the problems themselves: no pointer into rules/common.smk, no traceback
    lines = [line for line in output.splitlines() if not line.startswith(("Using workflow specific profile",
                                                                           "Config file config.yaml is extended"))]
    assert lines[0] == f"Config error: {TINY}: unknown key 'pretrianed' — did you mean 'pretrained'?", output
    assert "did you mean 'open_clip'?" in lines[1]
    assert lines[2].startswith("(2 problems in ") and "config.yaml; nothing was run" in lines[2]
    assert len(lines) == 3 and "common.smk" not in output and "Traceback" not in output
    detail = (tmp_path / "logs" / "config_validation.log").read_text()
    assert "Failed validating 'enum'" in detail and "Failed validating 'additionalProperties'" in detail


# Malformed values of every JSON type, checked by the library directly (no snakemake start-up per case).
@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c["inference"].update(batch_size="8"),
         "inference, key 'batch_size': expected integer, got string '8'"),
        (lambda c: c["benchmark"].update(seed=0.5), "benchmark, key 'seed': expected integer, got number 0.5"),
        (lambda c: c["bootstrap"].update(seed=True), "bootstrap, key 'seed': expected integer, got boolean True"),
        (lambda c: c["benchmark"].update(name=None), "benchmark, key 'name': expected string, got null None"),
        (lambda c: c.update(inference=[64]), "top level, key 'inference': expected object, got array [64]"),
        (lambda c: c.update(subsets="coarse"), "top level, key 'subsets': expected array, got string 'coarse'"),
        (lambda c: c["models"][0].update(seed="0"), "models[0] 'Random', key 'seed': expected integer, got string"),
        (lambda c: c["inference"].update(batch_size=0), "inference, key 'batch_size': 0 is less than the minimum of 1"),
        (lambda c: c["bootstrap"].update(confidence=1.5), "bootstrap, key 'confidence': 1.5 is greater than or equal"),
        (lambda c: c["models"][0].update(name="my model"),
         "models[0] 'my model', key 'name': 'my model' must match ^[A-Za-z0-9_.+-]+$"),
        (lambda c: c["models"][0].update(name=".."),
         "models[0] '..', key 'name': '..' is not a name but a path ('.' is a folder itself, '..' its parent)"),
        (lambda c: c["benchmark"].update(name=".."), "benchmark, key 'name': '..' is not a name but a path"),
        (lambda c: c["benchmark"].update(name="."), "benchmark, key 'name': '.' is not a name but a path"),
        (lambda c: c["benchmark"].update(name="reference"),
         "benchmark, key 'name': 'reference' is taken: paper_figures/reference/ holds the published numbers"),
        (lambda c: c["merging"]["pairs"][0].update(name="..."), "merging.pairs[0] '...', key 'name': '...' is not a"),
        (lambda c: c["merging"]["train"]["models"][0].update(name=".."), "merging.train.models[0] '..', key 'name'"),
        (lambda c: c["models"][0].update(container="../../tmp/x"),
         "models[0] 'Random', key 'container': '../../tmp/x' must match"),
        (lambda c: c["models"][0].update(container=".."), "key 'container': '..' is not a name but a path"),
        (lambda c: c["benchmark"].update(source="ubnech"), "did you mean 'ubench'?"),
        (lambda c: c["bootstrap"].update(method="bca2"), "bootstrap, key 'method': 'bca2' is not one of basic, "
                                                         "percentile, bca — did you mean 'bca'?"),
        (lambda c: c.update(models=[]), "top level, key 'models': [] should be non-empty"),
        (lambda c: c.update(subsets=["fine", "fine"]), "has non-unique elements"),
        (lambda c: c["probe"]["features"].update(mean=[0.5]), "probe.features, key 'mean': [0.5] is too short"),
        (lambda c: c["merging"].update(alphas=["half"]), "merging.alphas[0]: expected number, got string 'half'"),
        (lambda c: c["merging"]["train"]["models"][0].update(stpes=3),
         "merging.train.models[0] 'DemoCLIP': unknown key 'stpes' — did you mean 'steps'?"),
        (lambda c: c.update(infrence={}), "top level: unknown key 'infrence' — did you mean 'inference'?"),
        (lambda c: c["phash"].pop("threshold"), "phash: missing required key 'threshold'"),
    ],
    ids=["str-for-int", "float-for-int", "bool-for-int", "null-for-str", "list-for-object", "str-for-list",
         "str-for-int-in-model", "below-minimum", "above-maximum", "bad-pattern", "dots-model", "dots-benchmark",
         "dot-benchmark", "reserved-benchmark", "dots-pair", "dots-trained", "path-container", "dots-container",
         "enum-typo", "enum-typo-2", "empty-list", "duplicates", "short-array", "item-type", "deep-typo",
         "top-level-typo", "missing-key"],
)
def test_malformed_values_get_one_short_line_naming_the_key(mutate, expected, tmp_path):
    with pytest.raises(ConfigError) as err:
        validate_config(mutated(mutate), SCHEMA, tmp_path / "validation.log")
    message = str(err.value)
    assert expected in message.splitlines()[0]  # the problem first, then how many and where the detail is
    assert message.splitlines()[1].startswith("(1 problem; nothing was run; full schema detail in")
    assert len(message.splitlines()) == 2
    assert "Failed validating" in (tmp_path / "validation.log").read_text()


def test_validation_fills_the_schema_defaults_like_snakemake():
    from snakemake.utils import validate

    ours, theirs = copy.deepcopy(DEFAULT), copy.deepcopy(DEFAULT)
    validate_config(ours, SCHEMA, "/nonexistent/never-written.log")
    validate(theirs, str(SCHEMA))
    assert ours == theirs and ours["merging"]["train"]["threads"] == 2 and ours["probe"]["pca_variance"] == 0.95


def test_defaults_live_in_the_schema_alone():
    """Absent sections get the schema's defaults (null = off), so no rule or settings object restates one."""
    config = {key: copy.deepcopy(DEFAULT[key]) for key in ("benchmark", "subsets", "models", "inference", "bootstrap")}
    validate_config(config, SCHEMA, "/nonexistent/never-written.log")
    assert config["report"] == {"excluded_datasets": ["eulenberg_et_al_2017_darkfield",
                                                      "eulenberg_et_al_2017_epifluorescence"],
                                "coarse_caption_sets": "default", "significance_level": 0.05}
    assert config["figures"] == {"seed": 0, "samples_per_dataset": 6, "radar_models": 5}
    assert config["leaderboard"]["max_thumbnails"] == 1500
    assert config["probe"] is config["phash"] is config["merging"] is config["detection"] is None
    rules = "".join(path.read_text() for path in (REPO / "rules").glob("*.smk"))
    assert not re.search(r"\.get\([^)]*,", rules), "a rule restates a default the schema holds"
    scripts = "".join(path.read_text() for path in (REPO / "scripts").glob("*.py"))
    assert "snakemake.config" not in scripts, "scripts take their settings as params"


@pytest.mark.workflow
def test_probe_phash_and_merging_can_be_switched_off(tmp_path):
    config = mutated(lambda c: c.update(probe=None, phash=None, merging=None))
    result = dry_run(config, tmp_path)
    assert result.returncode == 0, result.stderr
    for rule in ("probe_features", "linear_probe", "phash", "table14", "train_demo_clip", "merge_weights",
                 "merging_figures"):
        assert not any(line.split()[:1] == [rule] for line in result.stdout.splitlines()), rule


@pytest.mark.workflow
def test_default_config_plans_one_job_per_model(tmp_path):
    """predict and score are one job per model (every subset in it); trained and merged models are predicted too."""
    result = dry_run(DEFAULT, tmp_path)
    assert result.returncode == 0, result.stderr
    n_models = len(DEFAULT["models"])
    n_cpu = sum(not spec.uses_accelerator for spec in check_config(DEFAULT).values())  # Random: no GPU
    merging = DEFAULT["merging"]
    n_merging = len(merging["train"]["models"]) + len(merging["pairs"]) * len(merging["alphas"])
    for rule, count in [("build_benchmark", 1), ("predict", n_models - n_cpu + n_merging), ("predict_cpu", n_cpu),
                        ("score", n_models - n_cpu), ("score_cpu", n_cpu), ("table1", 1)]:
        assert any(line.split()[:2] == [rule, str(count)] for line in result.stdout.splitlines()), result.stdout


def test_check_config_rejects_unknown_family_directly():
    config = mutated(lambda c: c["models"][0].update(family="gpt"))
    with pytest.raises(ConfigError, match=r"models\[0\].*unknown family 'gpt'"):
        check_config(config)


def test_a_key_given_twice_is_refused_naming_file_line_and_key(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("bootstrap:\n  seed: 0\n  n_resamples: 999\n  seed: 1\n")
    with pytest.raises(ConfigError, match=rf"{path}, line 4: key 'seed' is given twice in one mapping "
                                          r"\(first on line 2\)"):
        read_config_file(path)
    path.write_text("models:\n  - {name: A, family: random, seed: 0, seed: 1}\n")  # flow style too
    with pytest.raises(ConfigError, match="line 2: key 'seed' is given twice"):
        read_config_file(path)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("benchmark:\n  name: demo\n  seed: [0\n")
    with pytest.raises(ConfigError, match=rf"{path}, line 4, column 1: not valid YAML: expected ',' or ']'"):
        read_config_file(path)


@pytest.mark.workflow
def test_repeated_key_and_yaml_error_stop_the_workflow_naming_the_file(tmp_path):
    """In a --configfile (which Snakemake reads leniently) and in the workflow's own config.yaml."""
    workdir = copy_workflow(tmp_path / "run")
    (workdir / "site.yaml").write_text("inference:\n  batch_size: 8\n  batch_size: 16\n")
    result = snakemake(workdir, "-n", "--configfile", "site.yaml", check=False)
    assert result.returncode != 0
    assert "Config error: " in result.stderr and "site.yaml, line 3: key 'batch_size' is given twice" in result.stderr
    config = workdir / "config.yaml"
    config.write_text(config.read_text() + "probe: [\n")
    result = snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert "Config error: config.yaml, line " in result.stderr and "not valid YAML" in result.stderr
