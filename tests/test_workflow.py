"""The whole demo workflow, run by snakemake in a temporary copy of the project, as a user would run it."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mubench.benchmark.tables import COARSE_TYPES, Benchmark

from conftest import DEMO_FIGURES, REPO, snakemake
from tex import compile_problems, pdflatex  # noqa: F401 (fixture)

# Every paper table (CSV + Markdown + LaTeX + HTML) and figure (PNG + PDF) the demo's inputs allow (not Table 18
# without a detection model: then a note stands in for it).
PAPER_TABLES = ["table1", "table3_perception_summary", "table4_tasks", "table6_domains", "table7_modalities",
                "table8_stains", "table9_cognition_summary", "table10_cognition_modalities",
                "table11_cognition_domains", "table13_linear_probe", "table14_phash", "table14_robustness",
                "table14_robustness_summary", "table18_grit", "table19", "table20_pathology", "table21_models"]
PAPER_FIGURES = ["fig3_composition", "fig4_perception_axes", "fig5_merging", "fig6_samples", "fig8_linear_probe",
                 "fig11_radar", "fig12_coarse_by_type", "fig13_fine_biology", "fig14_fine_pathology",
                 "merging_alpha_curve"]
STATISTICS = ["significance.csv", "significance_breakdown.csv", "significance_matrix.png", "significance_matrix.pdf",
              "sensitivity.csv", "sensitivity.png", "sensitivity.pdf"]
# Tables beyond the paper's, shown in the report as HTML beside their CSV
DATA_TABLES = ["table1_breakdown", "significance", "significance_breakdown", "sensitivity"]
# What a score means (issue 21): tables written like the paper's (CSV, Markdown, LaTeX, HTML), plus audit.csv
MEANING_TABLES = ["vision_dependence", "audit_summary", "audit_option_bias", "prior_baseline"]
TABLES = ([f"{stem}.{ext}" for stem in PAPER_TABLES + MEANING_TABLES for ext in ("csv", "md", "tex", "html")]
          + [f"{stem}.{ext}" for stem in PAPER_FIGURES for ext in ("png", "pdf")]
          + [f"{stem}.{ext}" for stem in DATA_TABLES for ext in ("csv", "html")]
          + ["reproduction.md", "reproduction.html", "data/fig8.csv", "audit.csv"] + STATISTICS)

pytestmark = pytest.mark.workflow


def test_table1_has_every_model_and_subset_with_sane_cis(demo_run):
    table = pd.read_csv(demo_run / DEMO_FIGURES / "table1.csv")
    assert list(table.columns) == ["subset", "model", "accuracy", "ci_low", "ci_high", "ci_halfwidth",
                                   "n_questions", "paper_accuracy", "paper_ci", "small_n"]
    assert (table["small_n"] == (table["n_questions"] < 30)).all()
    assert set(zip(table["subset"], table["model"])) == {
        (s, m) for s in ("coarse", "fine", "cognition")
        for m in ("Random", "Prior (most common answer)", "OpenCLIP tiny (untrained)")}
    assert (table["ci_low"] <= table["accuracy"]).all() and (table["accuracy"] <= table["ci_high"]).all()
    assert ((table["ci_high"] - table["accuracy"] - table["ci_halfwidth"]).abs() < 0.011).all()
    assert table["accuracy"].between(0, 100).all() and (table["ci_low"] >= 0).all() and (table["ci_high"] <= 100).all()

    questions = Benchmark(demo_run / "results" / "demo" / "benchmark").questions
    for subset, rows in questions.groupby("subset"):
        chance = 100 * (1 / rows["options"].map(len)).mean()
        random_row = table[(table["subset"] == subset) & (table["model"] == "Random")].iloc[0]
        assert random_row["n_questions"] == len(rows)
        assert abs(random_row["accuracy"] - chance) <= 2 * random_row["ci_halfwidth"], (subset, chance)
    paper_random = table[table["model"] == "Random"].set_index("subset")["paper_accuracy"]
    assert paper_random.to_dict() == {"coarse": 18.34, "fine": 19.13, "cognition": 17.0}
    assert table.loc[table["model"] != "Random", "paper_accuracy"].isna().all()  # the Prior is not in the paper


def test_every_job_logged_and_benchmarked(demo_run):
    planned = snakemake(demo_run, "-n", "--forceall").stdout
    n_jobs = int(re.search(r"^total\s+(\d+)$", planned, re.MULTILINE)[1]) - 1  # `all` runs nothing
    logs = list((demo_run / "logs").rglob("*.log"))
    bench = list((demo_run / "logs" / "bench").rglob("*.tsv"))
    assert len(logs) == len(bench) == n_jobs
    predict_log = (demo_run / "logs" / "predict" / "demo" / "OpenCLIP-tiny-untrained.log").read_text()
    assert "1400 questions" in predict_log


# Jobs whose outputs other tests already prove byte-identical when run again, so the rerun below leaves them be: the
# benchmark build (test_demo_benchmark::test_same_seed_is_byte_identical_and_another_seed_differs) and the training,
# merging and model answers (test_faults::test_cores_1_and_2_give_identical_tables_predictions_and_trained_models).
PROVEN_ELSEWHERE = {"build_benchmark", "train_demo_clip", "merge_weights", "predict"}


def test_same_config_gives_byte_identical_tables(demo_run):
    """Every job from the model answers on (scores, probe, pHash, detection, statistics, tables, figures) run again
    gives the same bytes."""
    planned = snakemake(demo_run, "-n", "--forceall")
    rules = set(re.findall(r"^(?:local)?rule (\w+):$", planned.stdout + planned.stderr, re.MULTILINE))
    rules -= PROVEN_ELSEWHERE | {"all"}
    assert {"score", "probe_features", "phash", "table1", "merging_figures", "leaderboard"} <= rules
    before = {name: (demo_run / DEMO_FIGURES / name).read_bytes() for name in TABLES}
    rerun = snakemake(demo_run, "--forcerun", *sorted(rules))
    after = {name: (demo_run / DEMO_FIGURES / name).read_bytes() for name in TABLES}
    assert set(re.findall(r"^(?:local)?rule (\w+):$", rerun.stdout + rerun.stderr, re.MULTILINE)) == rules | {"all"}
    assert before == after


def test_lint_is_clean(demo_run):
    result = snakemake(demo_run, "--lint")
    assert "Lints for" not in result.stdout + result.stderr


def test_demo_writes_every_paper_artefact(demo_run):
    out = demo_run / DEMO_FIGURES
    for stem in PAPER_TABLES:
        assert all((out / f"{stem}.{ext}").stat().st_size > 0 for ext in ("csv", "md", "tex", "html")), stem
    for stem in PAPER_FIGURES:
        assert (out / f"{stem}.png").read_bytes().startswith(b"\x89PNG"), stem
        assert (out / f"{stem}.pdf").read_bytes().startswith(b"%PDF"), stem
    assert not (out / "absent").exists()  # the demo configures every analysis (detection: the classical detector)
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
    """Every paper artefact is named in the report, and whatever the rules flag with report(...) is embedded in it,
    content and all (a base64 data URI per file)."""
    snakemake(demo_run, "--report", "paper_figures/demo/report.html")
    html = (demo_run / DEMO_FIGURES / "report.html").read_text(errors="replace")
    shown = [f"{stem}.{ext}" for stem in PAPER_TABLES + DATA_TABLES for ext in ("csv", "html")] + [
        f"{stem}.png" for stem in PAPER_FIGURES] + ["reproduction.html", "significance_matrix.png", "sensitivity.png"]
    missing = [name for name in shown if name not in html]
    assert not missing, f"not in the report: {missing}"
    assert "Weight merging (appendix G)" in html and "Benchmark composition (appendix C)" in html

    flagged = subprocess.run([sys.executable, str(REPO / "tests" / "report_outputs.py"), str(demo_run)],
                             cwd=demo_run, check=True, capture_output=True, text=True, timeout=300).stdout.split()
    assert "paper_figures/demo/table1.csv" in flagged
    for name in flagged:
        path = demo_run / name
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        assert files, f"{name}: flagged for the report but empty"
        for file in files:
            assert base64.b64encode(file.read_bytes()).decode() in html, f"{file.relative_to(demo_run)} not in report"
    check_tables_readable_in_report(demo_run / DEMO_FIGURES, html, flagged)


def embedded_pages(report: str) -> dict[str, str]:
    """The HTML files a Snakemake report embeds (it shows them inline), by file name, decoded."""
    found = re.findall(r"data:text/html;charset=[\w-]+;filename=([^;\"]+);base64,([A-Za-z0-9+/=]+)", report)
    return {name: base64.b64decode(data).decode("utf-8") for name, data in found}


def check_tables_readable_in_report(figures, report: str, flagged: list[str]) -> None:
    """Every table the report offers as a CSV download is also in it as HTML, which the report shows inline, with
    the table's content: Table 1's "accuracy ± half-width" per model, every other table's first column (every CSV
    column is in the page, below the printed layout)."""
    from html import escape

    pages = embedded_pages(report)
    csvs = [Path(name) for name in flagged if name.endswith(".csv")]
    assert csvs and all(str(csv.with_suffix(".html")) in flagged for csv in csvs), "a CSV without its HTML"
    for csv in csvs:
        page, table = pages[csv.with_suffix(".html").name], pd.read_csv(figures / csv.name, keep_default_na=False)
        assert "<table>" in page and "<script" not in page
        first = table.columns[0]
        missing = [value for value in table[first].astype(str) if escape(value) not in page]
        assert not missing, f"{csv.name}: {first} values {missing[:3]} not in the report's page"
    table1 = pd.read_csv(figures / "table1.csv")
    for row in table1.itertuples():
        assert f"{row.accuracy:.2f} ± {row.ci_halfwidth:.2f}" in pages["table1.html"], row
    assert "How close this run came to the paper" in pages["reproduction.html"]
    assert "Table 1" in pages["reproduction.html"] and "table1.csv" in pages["reproduction.html"]


def test_every_table_compiles_in_a_default_article_page(demo_run, pdflatex):
    """Each .tex, input into a default article with booktabs (tests/tex.py): no error, no overfull box, no float
    taller than the page; Table 1 in the paper's layout (models × subsets, the best in bold)."""
    figures = demo_run / DEMO_FIGURES
    tex = sorted(figures.glob("*.tex"))
    assert sorted(path.stem for path in tex) == sorted(PAPER_TABLES + MEANING_TABLES)
    assert [problem for path in tex for problem in compile_problems(path)] == []
    check_table1_layout(figures)


def check_table1_layout(figures) -> None:
    table, text = pd.read_csv(figures / "table1.csv"), (figures / "table1.tex").read_text()
    subsets = list(dict.fromkeys(table["subset"]))
    assert " & ".join(s.capitalize() for s in subsets) + r" \\" in text
    for model, rows in table.groupby("model"):
        assert re.search(rf"^{re.escape(model)} & ", text, re.M), model
    for subset, rows in table.groupby("subset"):
        best = rows.loc[rows["accuracy"].idxmax()]
        assert rf"\textbf{{{best.accuracy:.2f} $\pm$ {best.ci_halfwidth:.2f}}}" in text, subset
        assert f"n = {rows['n_questions'].iloc[0]}" in text
    assert r"\begin{table}" in text and r"\caption[" in text and r"\label{tab:" in text and r"\toprule" in text
    assert r"paper\_\allowbreak{}accuracy" in text  # left out of the printed table, named in its caption


def test_intervals_stay_in_range_and_the_same_questions_get_the_same_interval(demo_run):
    figures = demo_run / DEMO_FIGURES
    for name in ("table1.csv", "table1_breakdown.csv", "table19.csv", "table20_pathology.csv",
                 "merging_alpha_curve.csv"):
        table = pd.read_csv(figures / name)
        assert (table["ci_low"] >= 0).all() and (table["ci_high"] <= 100).all(), name
    breakdown = pd.read_csv(figures / "table1_breakdown.csv")
    assert (breakdown["small_n"] == (breakdown["n_questions"] < 30)).all()
    interval = ["ci_low", "ci_high", "rows_ci_low", "rows_ci_high", "images_ci_low", "images_ci_high"]
    # the demo has none of the excluded (Eulenberg) datasets: both scopes hold the same questions
    keys = ["model", "subset", "level", "group"]
    both = breakdown[breakdown.scope == "all"].merge(breakdown[breakdown.scope == "without_excluded"], on=keys)
    assert len(both) and (both[[f"{c}_x" for c in interval]].to_numpy() == both[[f"{c}_y" for c in interval]]
                          .to_numpy()).all()
    # a subset's total and its dataset, when it has one dataset (the demo's cognition questions)
    rows = breakdown[breakdown.scope == "all"]
    single = [(m, s) for (m, s), part in rows[rows.level == "dataset"].groupby(["model", "subset"]) if len(part) == 1]
    assert single
    for model, subset in single:
        part = rows[(rows.model == model) & (rows.subset == subset)].set_index("level")
        assert (part.loc["total", interval] == part.loc["dataset", interval]).all(), (model, subset)


def test_breakdown_labels_read_back_as_written(demo_run):
    """The demo's stain "None" (unstained) reads back as text, not as a missing value."""
    from mubench.figures.export import csv_label

    breakdown = pd.read_csv(demo_run / DEMO_FIGURES / "table1_breakdown.csv")
    assert breakdown["group"].notna().all()
    stains = set(demo_tables(demo_run).images["stain"].dropna())
    assert "None" in stains
    assert set(breakdown.loc[breakdown.level == "stain", "group"]) == {csv_label(s) for s in stains}
    assert pd.read_csv(demo_run / DEMO_FIGURES / "table8_stains.csv")["group"].notna().all()


def demo_tables(demo_run) -> Benchmark:
    return Benchmark(demo_run / "results" / "demo" / "benchmark")


def test_table13_has_one_row_per_task_with_the_benchmarks_counts(demo_run):
    table = pd.read_csv(demo_run / DEMO_FIGURES / "table13_linear_probe.csv")
    bench = demo_tables(demo_run)
    images, questions = bench.images.set_index("image_id"), bench.questions
    fine = questions[questions["subset"] == "fine"]
    expected = {("coarse", t): images.loc[questions.loc[questions["question_type"] == t, "image_id"].unique(), t]
                for t in COARSE_TYPES}
    expected |= {("fine", d): images.loc[rows.unique(), "label_name"] for d, rows in fine.groupby("dataset")["image_id"]}
    assert list(zip(table["subset"], table["task"])) == list(expected)  # coarse types, then fine datasets, once each
    assert (table["status"] == "ok").all(), table[["task", "status"]]
    for row in table.itertuples():
        labels = expected[row.subset, row.task]
        assert row.n_train + row.n_val + row.n_test == len(labels), row.task
        assert row.n_classes == labels.nunique(), row.task
        for column in ("macro_f1", "balanced_accuracy", "dummy_macro_f1", "dummy_balanced_accuracy"):
            assert 0 <= getattr(row, column) <= 100, (row.task, column)
    reference = pd.read_csv(REPO / "paper_figures/reference/paper_table13_linear_probe.csv", comment="#")
    paper = table.merge(reference, on=["subset", "task"], suffixes=("", "_ref"))
    assert set(paper["task"]) == set(COARSE_TYPES)  # demo datasets are not the paper's: no value beside them
    assert (paper["paper_macro_f1"] == paper["macro_f1_ref"]).all()
    assert table.loc[table["subset"] == "fine", "paper_macro_f1"].isna().all()


# Tasks whose classes differ in colour or intensity statistics, which even an untrained ViT's CLS token keeps:
# H&E vs IHC, a cell vs background, EM structures, light vs fluorescence vs EM, the stain. Checked with the ViT
# initialised from seeds 0, 1 and 2: the probe leads the dummy by at least 30 points on each. Counting nuclei
# (probe 19-22 vs dummy 33) and the coarse domain task (2 classes, dummy 71) are not separable this way.
SEPARABLE = [("fine", "demo_histology_stain"), ("fine", "demo_qpi_cell"), ("fine", "demo_synthetic_em"),
             ("coarse", "modality"), ("coarse", "stain")]


@pytest.mark.parametrize("task", SEPARABLE, ids="/".join)
def test_probe_beats_the_dummy_baseline_on_separable_tasks(demo_run, task):
    table = pd.read_csv(demo_run / DEMO_FIGURES / "table13_linear_probe.csv").set_index(["subset", "task"])
    row = table.loc[task]
    assert row["macro_f1"] >= row["dummy_macro_f1"] + 20, row[["macro_f1", "dummy_macro_f1"]]
    assert row["balanced_accuracy"] > row["dummy_balanced_accuracy"]


def test_fig8_draws_table13s_values(demo_run):
    """The bars Fig. 8 drew (paper_figures/demo/data/fig8.csv): one per probed task and series, Table 13's values."""
    table = pd.read_csv(demo_run / DEMO_FIGURES / "table13_linear_probe.csv")
    drawn = pd.read_csv(demo_run / DEMO_FIGURES / "data" / "fig8.csv")
    shown = table[table["status"] == "ok"].set_index(["subset", "task"])
    series = {"linear probe (ours, 95 % CI)": "macro_f1",
              "best dummy on validation (ours, 95 % CI)": "dummy_macro_f1",
              "linear probe (paper)": "paper_macro_f1"}  # the paper has values for the coarse tasks
    assert set(drawn["series"]) == set(series)
    for name, column in series.items():
        bars = drawn[drawn["series"] == name].set_index(["subset", "task"])
        assert sorted(bars.index) == sorted(shown.index), name
        np.testing.assert_array_equal(bars["value"], shown.loc[bars.index, column], err_msg=name)
    ours = drawn[drawn["series"] == "linear probe (ours, 95 % CI)"].set_index(["subset", "task"])
    np.testing.assert_array_equal(ours[["ci_low", "ci_high"]],
                                  shown.loc[ours.index, ["macro_f1_ci_low", "macro_f1_ci_high"]])
    assert ((ours["ci_low"] <= ours["value"]) & (ours["value"] <= ours["ci_high"])).all()


def naive_similar_images(phashes: list[str], threshold: int) -> int:
    """Images with another image within ``threshold`` bits, by comparing every pair of hex hashes directly."""
    values = [int(h, 16) for h in phashes]
    return sum(any(bin(a ^ b).count("1") <= threshold for j, b in enumerate(values) if j != i)
               for i, a in enumerate(values))


def test_table14_counts_near_duplicates_per_dataset(demo_run):
    table = pd.read_csv(demo_run / DEMO_FIGURES / "table14_phash.csv")
    hashes = pd.read_parquet(demo_run / "results" / "demo" / "phash" / "hashes.parquet")
    images = demo_tables(demo_run).images
    assert sorted(hashes["image_id"]) == sorted(images["image_id"])
    per_dataset = table.iloc[:-2].set_index("dataset")
    assert table["dataset"].iloc[-2:].tolist() == ["weighted average", "macro average"]
    assert per_dataset["total_images"].to_dict() == images["dataset"].value_counts().to_dict()
    for dataset, group in hashes.groupby("dataset"):
        assert per_dataset.loc[dataset, "similar_images"] == naive_similar_images(group["phash"].tolist(), 5), dataset
    percent = 100 * per_dataset["similar_images"] / per_dataset["total_images"]
    np.testing.assert_allclose(per_dataset["percent_similar"], percent.round(2))
    weighted = table.set_index("dataset").loc["weighted average"]
    assert weighted["similar_images"] == per_dataset["similar_images"].sum()
    assert weighted["total_images"] == len(images)
    assert per_dataset[["paper_similar_images", "paper_percent_similar"]].isna().all().all()  # demo ≠ paper
    paper = pd.read_csv(REPO / "paper_figures/reference/paper_table14_phash.csv", comment="#")
    assert weighted["paper_total_images"] == paper["total_images"].sum()


def test_table14_robustness_rescores_table1(demo_run):
    """Without the datasets above phash.max_percent_similar, Table 1's accuracies are recomputed; with none
    above it (the demo's case) they equal Table 1's."""
    figures = demo_run / DEMO_FIGURES
    similar = pd.read_csv(figures / "table14_phash.csv").iloc[:-2]
    excluded = sorted(similar.loc[similar["percent_similar"] > 50, "dataset"])
    table1 = pd.read_csv(figures / "table1.csv").set_index(["subset", "model"])["accuracy"]
    robustness = pd.read_csv(figures / "table14_robustness.csv").set_index(["subset", "model"])
    assert sorted(robustness.index) == sorted(table1.index)
    pd.testing.assert_series_equal(robustness["accuracy"], table1.loc[robustness.index], check_names=False)
    np.testing.assert_allclose(robustness["change"],
                               robustness["accuracy_without_similar"] - robustness["accuracy"], atol=0.011)
    if not excluded:
        assert (robustness["accuracy_without_similar"] == robustness["accuracy"]).all()
    summary = pd.read_csv(figures / "table14_robustness_summary.csv", keep_default_na=False).set_index("subset")
    assert set(summary["excluded_datasets"]) == {";".join(excluded)}
    for subset, rows in robustness.groupby(level="subset"):
        assert summary.loc[subset, "n_models"] == len(rows)
        assert summary.loc[subset, "mean_abs_change"] == pytest.approx(rows["change"].abs().mean(), abs=0.011)
        assert summary.loc[subset, "ranking_changed"] == (rows["rank"] != rows["rank_without_similar"]).any()


def test_outputs_are_readable_by_the_lab_under_the_usual_umask(demo_run):
    """Results on a shared filesystem: files written by the workflow get 0666 minus the umask (0644 under 022)."""
    from mubench.io import _process_umask

    expected = 0o666 & ~_process_umask()
    written = [demo_run / DEMO_FIGURES / "table1.csv",
               demo_run / "results/demo/predictions/Random/coarse.parquet",
               demo_run / "results/demo/benchmark/questions.parquet",
               next((demo_run / "results/demo/cache/OpenCLIP-tiny-untrained").rglob("*.npz"))]
    assert {path.name: path.stat().st_mode & 0o777 for path in written} == {path.name: expected for path in written}


def test_significance_table_compares_every_two_models_on_every_subset(demo_run):
    from mubench.scoring.paired import SIGNIFICANCE_COLUMNS

    table = pd.read_csv(demo_run / DEMO_FIGURES / "significance.csv")
    assert list(table.columns) == SIGNIFICANCE_COLUMNS
    assert list(table.subset) == ["coarse"] * 3 + ["fine"] * 3 + ["cognition"] * 3
    labels = ["Random", "Prior (most common answer)", "OpenCLIP tiny (untrained)"]
    for subset, pairs in table.groupby("subset"):
        assert set(map(frozenset, zip(pairs.model_a, pairs.model_b))) == {frozenset(p) for p in
                                                                          [labels[:2], labels[::2], labels[1:]]}
    questions = Benchmark(demo_run / "results" / "demo" / "benchmark").questions
    assert table.groupby("subset")["n"].max().to_dict() == questions["subset"].value_counts().to_dict()
    assert (table.acc_a >= table.acc_b).all() and (table["diff"] - (table.acc_a - table.acc_b)).abs().max() < 0.011
    assert ((table.diff_ci_low <= table["diff"]) & (table["diff"] <= table.diff_ci_high)).all()
    assert (table.p_holm >= table.p_mcnemar).all()  # Holm over the three pairs of a subset
    breakdown = pd.read_csv(demo_run / DEMO_FIGURES / "significance_breakdown.csv")
    assert set(breakdown.dataset) == set(questions.dataset)
    for name in ("significance_matrix.png", "significance_matrix.pdf"):
        assert (demo_run / DEMO_FIGURES / name).stat().st_size > 1000

    markdown = (demo_run / DEMO_FIGURES / "table1.md").read_text()
    assert "† = not significantly different from the most accurate model of its subset" in markdown
    tex = (demo_run / DEMO_FIGURES / "table1.tex").read_text()
    table1 = pd.read_csv(demo_run / DEMO_FIGURES / "table1.csv")
    subsets = list(dict.fromkeys(table1.subset))
    for subset, rows in table1.groupby("subset"):  # marked exactly when its pair with the best is not significant
        best = rows.iloc[0].model
        section = markdown.split(f"\n## {subset}\n", 1)[1].split("\n## ", 1)[0]
        for other in rows.itertuples():
            if other.model == best:
                continue
            both = [best, other.model]
            pair = table[(table.subset == subset) & table.model_a.isin(both) & table.model_b.isin(both)]
            tied = pair.p_holm.iloc[0] >= 0.05
            assert (f"| {other.model} † |" in section) == tied, (subset, other.model)
            # the LaTeX marks the cell in the subset's column of the model's row
            line = next(line for line in tex.splitlines() if line.startswith(f"{other.model} & "))
            cell = line.removesuffix(r" \\").split(" & ")[1 + subsets.index(subset)]
            assert cell.startswith(f"{other.accuracy:.2f} $\\pm$ {other.ci_halfwidth:.2f}")
            assert cell.endswith(r"\textsuperscript{\dag{}}") == tied, (subset, cell)


def test_sensitivity_table_scores_the_demo_caption_sets(demo_run):
    from mubench.scoring.sensitivity import SENSITIVITY_COLUMNS

    table = pd.read_csv(demo_run / DEMO_FIGURES / "sensitivity.csv")
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
    breakdown = pd.read_csv(demo_run / DEMO_FIGURES / "table1_breakdown.csv")
    totals = breakdown[(breakdown.level == "total") & (breakdown.scope == "all")].set_index(["subset", "model"])
    assert (totals.ci_low == totals.rows_ci_low).all()  # config.yaml: resample: rows
    assert (totals.loc["fine", "images_to_rows_width"] == 1.0).all()  # one fine question per image
    # Random answers each question independently: resampling images changes nothing but Monte-Carlo noise
    assert 0.9 < totals.loc[("coarse", "Random"), "images_to_rows_width"] < 1.1
    # the untrained CLIP's correctness is set by the question type (e.g. always right on domain, never on stain), so
    # every image scores 1-2 of 5 and image totals vary far less than independent rows would: a narrower interval
    assert totals.loc[("coarse", "OpenCLIP tiny (untrained)"), "images_to_rows_width"] < 0.8


def test_readme_states_the_merging_numbers_this_demo_produces(demo_run):
    """README's account of the merging demo is this run's Table 19, not an impression of it."""
    table = pd.read_csv(demo_run / DEMO_FIGURES / "table19.csv").set_index(["subset", "model"])

    def pct(subset: str, label: str, column: str) -> str:
        return f"{table.loc[(subset, label), column]:g}"

    base, tuned = "DemoCLIP (generalist)", "DemoCLIP-path (histology fine-tuned)"
    half, three_quarters = "M-DemoCLIP (α=0.5)", "M-DemoCLIP (α=0.75)"
    path, other = "pathology_accuracy", "non_pathology_accuracy"
    lost = table.loc[("coarse", base), other] - table.loc[("coarse", tuned), other]
    won = table.loc[("coarse", half), other] - table.loc[("coarse", tuned), other]
    stated = (
        f"the histology specialist raises pathology accuracy from {pct('coarse', base, path)} to "
        f"{pct('coarse', tuned, path)} % (coarse) and from {pct('fine', base, path)} to {pct('fine', tuned, path)} % "
        f"(fine) and drops accuracy outside pathology from {pct('coarse', base, other)} to "
        f"{pct('coarse', tuned, other)} % (coarse) and from {pct('fine', base, other)} to {pct('fine', tuned, other)} % "
        f"(fine). At the paper's α = 0.5 the merged model keeps the pathology gain ({pct('coarse', half, path)} %, "
        f"{pct('fine', half, path)} %) but wins back little outside pathology: {pct('coarse', half, other)} % on "
        f"coarse ({won:g} of the {lost:g} points lost), {pct('fine', half, other)} % on fine, no better than the "
        f"specialist. At α = 0.75 it is the other way round: {pct('coarse', three_quarters, other)} % and "
        f"{pct('fine', three_quarters, other)} % outside pathology, {pct('coarse', three_quarters, path)} % and "
        f"{pct('fine', three_quarters, path)} % on pathology."
    )
    assert table.loc[("fine", half), other] <= table.loc[("fine", tuned), other]  # "no better than the specialist"
    assert stated in " ".join((REPO / "README.md").read_text().split())
