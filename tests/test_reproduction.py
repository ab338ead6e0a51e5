"""reproduction.md: the Δ and within-the-paper's-CI logic on hand-made numbers."""

from __future__ import annotations

import pandas as pd

from mubench.figures.reproduction import COMPARISONS, Comparison, compare, render, summarise

TABLE1 = Comparison("Table 1", "table1.csv", ("subset", "model"), "accuracy", "paper_accuracy", "paper_ci", unit=" pt")


def test_within_ci_counts_values_inside_the_papers_plus_minus():
    table = pd.DataFrame({
        "subset": ["coarse"] * 5, "model": ["A", "B", "C", "D", "E"],
        "accuracy": [50.0, 50.3, 49.0, 60.0, 40.0],
        "paper_accuracy": [50.2, 50.0, 50.0, None, 40.0],
        "paper_ci": [0.35, 0.35, 0.35, None, 0.30],
    })
    row = compare(table, TABLE1)
    assert (row["paper_cells"], row["compared"], row["within_paper_ci"], row["exact"]) == (4, 4, 3, 1)
    assert row["mean_abs_difference"] == round((0.2 + 0.3 + 1.0 + 0.0) / 4, 2)
    assert row["largest_differences"].startswith("coarse / C: 49 vs 50 (-1.00 pt); coarse / B: 50.3 vs 50 (+0.30 pt)")


def test_relative_differences_and_row_filters():
    table = pd.DataFrame({"model": ["CLIP", "Big", "API"], "n_parameters": [151_277_313, 9_000_000_000, None],
                          "paper_n_parameters": [151_200_000, 9_600_000_000, None]})
    sizes = next(c for c in COMPARISONS if c.file == "table21_models.csv")
    row = compare(table, sizes)
    assert row["within_paper_ci"] is None and row["compared"] == 2 and row["exact"] == 0
    assert row["largest_differences"].startswith("Big: 9,000,000,000 vs 9,600,000,000 (-6.25%)")
    merged = next(c for c in COMPARISONS if c.file == "table19.csv")
    table19 = pd.DataFrame({"subset": ["coarse"] * 2, "model": ["CLIP", "M-PLIP"], "pair": [None, "M-PLIP"],
                            "accuracy": [30.0, 44.0], "paper_accuracy": [35.41, 43.25], "paper_ci": [0.34, 0.34]})
    assert compare(table19, merged)["compared"] == 1  # Table 1's own rows are not counted twice


def test_summary_and_page_name_every_artefact_and_why_one_is_missing():
    table = pd.DataFrame({"subset": ["coarse"], "model": ["Random"], "accuracy": [18.5], "paper_accuracy": [18.34],
                          "paper_ci": [0.27]})
    probe = pd.DataFrame({"subset": ["coarse"], "task": ["stain"], "macro_f1": [90.0], "paper_macro_f1": [98.59]})
    summary = summarise({"table1.csv": table, "table13_linear_probe.csv": probe,
                         "table18_grit.csv": "not produced: no detection models configured"})
    assert list(summary["artefact"]) == [c.artefact for c in COMPARISONS]
    by_file = summary.set_index("file")
    assert by_file.loc["table1.csv", "within_paper_ci"] == 1
    assert by_file.loc["table18_grit.csv", "largest_differences"] == "not produced: no detection models configured"
    assert by_file.loc["table20_pathology.csv", "largest_differences"] == "not produced by this run"
    page = render(summary, ["benchmark: demo"])
    assert "| Table 1 | `table1.csv` | 1 | 1 | 1 of 1 | 0 | 0.16 | coarse / Random: 18.5 vs 18.34 (+0.16 pt) |" in page
    assert "| Table 13 (linear probe, macro F1) | `table13_linear_probe.csv` | 1 | 1 | n/a (no CI published) |" in page
    assert "- benchmark: demo" in page
