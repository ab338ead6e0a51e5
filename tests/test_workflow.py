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
STATISTICS = ["significance.csv", "significance_breakdown.csv", "significance_matrix.png", "significance_matrix.pdf",
              "sensitivity.csv", "sensitivity.png", "sensitivity.pdf"]
TABLES = ([f"{stem}.{ext}" for stem in PAPER_TABLES for ext in ("csv", "md", "tex")]
          + [f"{stem}.{ext}" for stem in PAPER_FIGURES for ext in ("png", "pdf")]
          + ["table1_breakdown.csv", "reproduction.md"] + STATISTICS)

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
        "table1_breakdown.csv", "reproduction.md", "significance.csv", "significance_matrix.png", "sensitivity.csv",
        "sensitivity.png"]
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


def test_significance_table_compares_the_two_models_on_every_subset(demo_run):
    from mubench.scoring.paired import SIGNIFICANCE_COLUMNS

    table = pd.read_csv(demo_run / "paper_figures" / "significance.csv")
    assert list(table.columns) == SIGNIFICANCE_COLUMNS
    assert list(table.subset) == ["coarse", "fine", "cognition"]
    assert set(map(frozenset, zip(table.model_a, table.model_b))) == {frozenset({"Random",
                                                                                 "OpenCLIP tiny (untrained)"})}
    questions = Benchmark(demo_run / "results" / "demo" / "benchmark").questions
    assert table.set_index("subset")["n"].to_dict() == questions["subset"].value_counts().to_dict()
    assert (table.acc_a >= table.acc_b).all() and (table["diff"] - (table.acc_a - table.acc_b)).abs().max() < 0.011
    assert ((table.diff_ci_low <= table["diff"]) & (table["diff"] <= table.diff_ci_high)).all()
    assert (table.p_holm == table.p_mcnemar).all()  # one pair per subset: Holm changes nothing
    breakdown = pd.read_csv(demo_run / "paper_figures" / "significance_breakdown.csv")
    assert set(breakdown.dataset) == set(questions.dataset)
    for name in ("significance_matrix.png", "significance_matrix.pdf"):
        assert (demo_run / "paper_figures" / name).stat().st_size > 1000

    markdown = (demo_run / "paper_figures" / "table1.md").read_text()
    assert "† = not significantly different from the best model of its subset" in markdown
    assert "†" in (demo_run / "paper_figures" / "table1.tex").read_text()  # the note, and any mark
    table1 = pd.read_csv(demo_run / "paper_figures" / "table1.csv")
    for row in table.itertuples():  # the runner-up is marked exactly when its pair is not significant
        runner_up = table1[table1.subset == row.subset].iloc[1].model
        assert (f"| {runner_up} † |" in markdown) == (row.p_holm >= 0.05), row.subset


def test_sensitivity_table_scores_the_demo_caption_sets(demo_run):
    from mubench.scoring.sensitivity import SENSITIVITY_COLUMNS

    table = pd.read_csv(demo_run / "paper_figures" / "sensitivity.csv")
    assert list(table.columns) == SENSITIVITY_COLUMNS
    assert set(table.factor) == {"caption_set"}  # no generative model in the demo
    got = {(r.model, r.subset, r.variant): r for r in table.itertuples()}
    questions = Benchmark(demo_run / "results" / "demo" / "benchmark").questions
    for model in ("Random", "OpenCLIP tiny (untrained)"):
        coarse, fine = got[model, "coarse", "<type>_1"], got[model, "fine", "<type>_0"]
        assert coarse.n == (questions.subset == "coarse").sum() and fine.n == (questions.subset == "fine").sum()
        assert got[model, "coarse", "default"].is_default and not coarse.is_default
        assert abs(coarse.difference - (coarse.accuracy - coarse.default_accuracy)) < 0.011
    assert (table.spread >= table.difference.abs() - 0.011).all()
    assert not any(subset == "cognition" for _, subset, _ in got)  # cognition has no caption sets


def test_breakdown_reports_row_and_image_interval_widths(demo_run):
    breakdown = pd.read_csv(demo_run / "paper_figures" / "table1_breakdown.csv")
    totals = breakdown[(breakdown.level == "total") & (breakdown.scope == "all")].set_index(["subset", "model"])
    assert (totals.ci_low == totals.rows_ci_low).all()  # config.yaml: resample: rows
    assert (totals.loc["fine", "images_to_rows_width"] == 1.0).all()  # one fine question per image
    # Random answers each question independently: resampling images changes nothing but Monte-Carlo noise
    assert 0.9 < totals.loc[("coarse", "Random"), "images_to_rows_width"] < 1.1
    # the untrained CLIP's correctness is set by the question type (e.g. always right on domain, never on stain), so
    # every image scores 1-2 of 5 and image totals vary far less than independent rows would: a narrower interval
    assert totals.loc[("coarse", "OpenCLIP tiny (untrained)"), "images_to_rows_width"] < 0.8
