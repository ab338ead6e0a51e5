"""The whole demo workflow, run by snakemake in a temporary copy of the project, as a user would run it."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from mubench.benchmark.tables import Benchmark

from conftest import snakemake

TABLES = ["table1.csv", "table1.md", "table1_breakdown.csv", "table13_linear_probe.csv", "fig8_linear_probe.png",
          "table14_phash.csv", "table14_robustness.csv", "table14_robustness_summary.csv"]

pytestmark = pytest.mark.workflow


def test_table1_has_every_model_and_subset_with_sane_cis(demo_run):
    table = pd.read_csv(demo_run / "paper_figures" / "table1.csv")
    assert list(table.columns) == ["subset", "model", "accuracy", "ci_low", "ci_high", "ci_halfwidth",
                                   "n_questions", "paper_accuracy", "paper_ci"]
    assert set(zip(table["subset"], table["model"])) == {
        (s, m) for s in ("coarse", "fine", "cognition") for m in ("Random", "OpenCLIP tiny (untrained)")}
    assert (table["ci_low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["ci_high"]).all()
    assert ((table["ci_high"] - table["accuracy"] - table["ci_halfwidth"]).abs() < 0.011).all()
    assert table["accuracy"].between(0, 100).all()

    questions = Benchmark(demo_run / "results" / "demo" / "benchmark").questions
    for subset, rows in questions.groupby("subset"):
        chance = 100 * (1 / rows["options"].map(len)).mean()
        random_row = table[(table["subset"] == subset) & (table["model"] == "Random")].iloc[0]
        assert random_row["n_questions"] == len(rows)
        assert abs(random_row["accuracy"] - chance) <= 2 * random_row["ci_halfwidth"], (subset, chance)
    paper_random = table[table["model"] == "Random"].set_index("subset")["paper_accuracy"]
    assert paper_random.to_dict() == {"coarse": 18.34, "fine": 19.13, "cognition": 17.0}
    assert table.loc[table["model"] != "Random", "paper_accuracy"].isna().all()


def test_every_job_logged_and_benchmarked(demo_run):
    planned = snakemake(demo_run, "-n", "--forceall").stdout
    n_jobs = int(re.search(r"^total\s+(\d+)$", planned, re.MULTILINE)[1]) - 1  # `all` runs nothing
    logs = list((demo_run / "logs").rglob("*.log"))
    bench = list((demo_run / "logs" / "bench").rglob("*.tsv"))
    assert len(logs) == len(bench) == n_jobs
    predict_log = (demo_run / "logs" / "predict" / "demo" / "OpenCLIP-tiny-untrained.log").read_text()
    assert "1400 questions" in predict_log


def test_same_config_gives_byte_identical_tables(demo_run):
    before = {name: (demo_run / "paper_figures" / name).read_bytes() for name in TABLES}
    snakemake(demo_run, "--forceall")
    after = {name: (demo_run / "paper_figures" / name).read_bytes() for name in TABLES}
    assert before == after


def test_lint_is_clean(demo_run):
    result = snakemake(demo_run, "--lint")
    assert "Lints for" not in result.stdout + result.stderr


def test_html_report_builds_offline(demo_run):
    snakemake(demo_run, "--report", "report.html")
    html = (demo_run / "report.html").read_text(errors="replace")
    assert "table1.csv" in html
