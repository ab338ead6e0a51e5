"""The whole demo workflow, run by snakemake in a temporary copy of the project, as a user would run it."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from mubench.benchmark.tables import Benchmark

from conftest import snakemake

# Every paper table (CSV + Markdown + LaTeX) and figure (PNG + PDF) the demo's inputs allow (not Table 18 without a
# detection model: then a note stands in for it).
PAPER_TABLES = ["table1", "table3_perception_summary", "table4_tasks", "table6_domains", "table7_modalities",
                "table8_stains", "table9_cognition_summary", "table10_cognition_modalities",
                "table11_cognition_domains", "table13_linear_probe", "table14_phash", "table14_robustness",
                "table14_robustness_summary", "table19", "table20_pathology", "table21_models"]
PAPER_FIGURES = ["fig3_composition", "fig4_perception_axes", "fig5_merging", "fig6_samples", "fig8_linear_probe",
                 "fig11_radar", "fig12_coarse_by_type", "fig13_fine_biology", "fig14_fine_pathology",
                 "merging_alpha_curve"]
TABLES = ([f"{stem}.{ext}" for stem in PAPER_TABLES for ext in ("csv", "md", "tex")]
          + [f"{stem}.{ext}" for stem in PAPER_FIGURES for ext in ("png", "pdf")]
          + ["table1_breakdown.csv", "reproduction.md"])

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


def test_demo_writes_every_paper_artefact(demo_run):
    out = demo_run / "paper_figures"
    for stem in PAPER_TABLES:
        assert all((out / f"{stem}.{ext}").stat().st_size > 0 for ext in ("csv", "md", "tex")), stem
    for stem in PAPER_FIGURES:
        assert (out / f"{stem}.png").read_bytes().startswith(b"\x89PNG"), stem
        assert (out / f"{stem}.pdf").read_bytes().startswith(b"%PDF"), stem
    assert (out / "table18_grit.csv").exists() or (out / "absent" / "table18_grit.png").exists()
    assert "| Table 1 | `table1.csv` |" in (out / "reproduction.md").read_text()

    images = Benchmark(demo_run / "results" / "demo" / "benchmark").images
    pathology = images[images["domain"] == "pathology"]
    table20 = pd.read_csv(out / "table20_pathology.csv")
    assert set(table20["subset"]) == {"coarse", "fine"}  # the demo's cognition questions are on biology images
    assert (table20.loc[table20["subset"] == "coarse", "n_questions"] == 5 * len(pathology)).all()
    fig4 = pd.read_csv(out / "data" / "fig4.csv")
    bottom = fig4[(fig4["scope"] == "domain=pathology") & (fig4["panel"] == "fine-grained task")]
    assert set(bottom["category"]) == set(pathology["dataset"])
    assert (fig4["ci_low"] <= fig4["accuracy"]).all() and (fig4["accuracy"] <= fig4["ci_high"]).all()
    models = pd.read_csv(out / "table21_models.csv").set_index("model")
    assert models.loc["OpenCLIP tiny (untrained)", "n_parameters"] > 0 and pd.isna(models.loc["Random",
                                                                                            "n_parameters"])
    breakdown = pd.read_csv(out / "table1_breakdown.csv")
    assert {"domain=biology", "domain=pathology"} <= set(breakdown["scope"])
    assert {"modality", "submodality", "domain", "subdomain", "stain"} <= set(breakdown["level"])


def test_html_report_builds_offline(demo_run):
    snakemake(demo_run, "--report", "paper_figures/report.html")
    html = (demo_run / "paper_figures" / "report.html").read_text(errors="replace")
    shown = [f"{stem}.csv" for stem in PAPER_TABLES] + [f"{stem}.png" for stem in PAPER_FIGURES] + [
        "table1_breakdown.csv", "reproduction.md"]
    missing = [name for name in shown if name not in html]
    assert not missing, f"not in the report: {missing}"
    assert "Weight merging (appendix G)" in html and "Benchmark composition (appendix C)" in html


def test_outputs_are_readable_by_the_lab_under_the_usual_umask(demo_run):
    """Results on a shared filesystem: files written by the workflow get 0666 minus the umask (0644 under 022)."""
    from mubench.io import _process_umask

    expected = 0o666 & ~_process_umask()
    written = [demo_run / "paper_figures" / "table1.csv",
               demo_run / "results/demo/predictions/Random/coarse.parquet",
               demo_run / "results/demo/benchmark/questions.parquet",
               next((demo_run / "results/demo/cache/OpenCLIP-tiny-untrained").rglob("*.npz"))]
    assert {path.name: path.stat().st_mode & 0o777 for path in written} == {path.name: expected for path in written}
