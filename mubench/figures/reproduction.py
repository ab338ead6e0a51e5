"""paper_figures/<benchmark>/reproduction.md: per paper artefact, how close this run came to the published numbers.

Every artefact table already carries the paper's value beside ours (``paper_*`` columns). Here each is reduced
to: how many cells the paper publishes, how many we can compare, how many of ours fall within the paper's CI
(the published value ± its "±"; only Tables 1, 19, 20 publish one), how many match exactly (counts), and the
largest differences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = ["artefact", "file", "paper_cells", "compared", "within_paper_ci", "exact", "mean_abs_difference",
                   "largest_differences"]


@dataclass(frozen=True)
class Comparison:
    """Where one artefact's numbers are: the file, the columns naming a cell, ours and the paper's value."""

    artefact: str
    file: str
    keys: tuple[str, ...]
    ours: str
    paper: str
    paper_ci: str | None = None  # the paper's "±" (half-width); None where it publishes no CI
    relative: bool = False  # differences in percent of the paper's value (e.g. parameter counts)
    rows: Callable[[pd.DataFrame], pd.Series] | None = None  # which rows belong to the artefact (default all)
    unit: str = ""


def _merged_rows(table: pd.DataFrame) -> pd.Series:
    return table["pair"].notna() & (table["pair"].astype(str) != "")


COMPARISONS = [
    Comparison("Table 1", "table1.csv", ("subset", "model"), "accuracy", "paper_accuracy", "paper_ci", unit=" pt"),
    Comparison("Table 19 (merged models)", "table19.csv", ("subset", "model"), "accuracy", "paper_accuracy",
               "paper_ci", rows=_merged_rows, unit=" pt"),
    Comparison("Table 20 (pathology)", "table20_pathology.csv", ("subset", "model"), "accuracy", "paper_accuracy",
               "paper_ci", unit=" pt"),
    Comparison("Table 13 (linear probe, macro F1)", "table13_linear_probe.csv", ("subset", "task"), "macro_f1",
               "paper_macro_f1", unit=" pt"),
    Comparison("Table 14 (pHash near-duplicates, %)", "table14_phash.csv", ("dataset",), "percent_similar",
               "paper_percent_similar", unit=" pt"),
    Comparison("Table 18 (GRIT)", "table18_grit.csv", ("split", "dataset", "class_name", "label"), "grit",
               "paper_grit", unit=" pt"),
    Comparison("Table 21 (parameters)", "table21_models.csv", ("model",), "n_parameters", "paper_n_parameters",
               relative=True),
    Comparison("Table 3 (perception summary)", "table3_perception_summary.csv", ("aspect",), "count", "paper_count"),
    Comparison("Table 4 (tasks)", "table4_tasks.csv", ("task_type", "task"), "images", "paper_images"),
    Comparison("Table 6 (domains)", "table6_domains.csv", ("level", "group"), "images", "paper_images"),
    Comparison("Table 7 (modalities)", "table7_modalities.csv", ("level", "group"), "images", "paper_images"),
    Comparison("Table 8 (stains)", "table8_stains.csv", ("level", "group"), "images", "paper_images"),
    Comparison("Table 9 (cognition summary)", "table9_cognition_summary.csv", ("aspect",), "count", "paper_count"),
    Comparison("Table 10 (cognition modalities)", "table10_cognition_modalities.csv", ("level", "group"),
               "questions", "paper_questions"),
    Comparison("Table 11 (cognition domains)", "table11_cognition_domains.csv", ("level", "group"), "questions",
               "paper_questions"),
]


def compare(table: pd.DataFrame, comparison: Comparison, n_largest: int = 3) -> dict:
    """One summary row: cells the paper publishes, cells compared (both values present), how many of ours lie in
    the paper's CI (None when it publishes none), exact matches, mean |Δ| and the ``n_largest`` largest |Δ|."""
    if comparison.rows is not None:
        table = table[comparison.rows(table)]
    ours = pd.to_numeric(table[comparison.ours], errors="coerce").astype(float)
    paper = pd.to_numeric(table[comparison.paper], errors="coerce").astype(float)
    both = ours.notna() & paper.notna()
    delta = ours[both] - paper[both]
    if comparison.relative:
        delta = 100 * delta / paper[both]
    within = None
    if comparison.paper_ci is not None:
        ci = pd.to_numeric(table.loc[both, comparison.paper_ci], errors="coerce").astype(float)
        within = int(((ours[both] - paper[both]).abs() <= ci + 1e-9).sum())
    order = delta.abs().sort_values(ascending=False, kind="stable").index[:n_largest]
    unit = "%" if comparison.relative else comparison.unit
    largest = [f"{_key(table.loc[i], comparison.keys)}: {_number(ours[i])} vs {_number(paper[i])} "
               f"({delta[i]:+.2f}{unit})" for i in order]
    return {
        "artefact": comparison.artefact, "file": comparison.file, "paper_cells": int(paper.notna().sum()),
        "compared": int(both.sum()), "within_paper_ci": within, "exact": int((delta == 0).sum()),
        "mean_abs_difference": round(float(delta.abs().mean()), 2) if len(delta) else None,
        "largest_differences": "; ".join(largest),
    }


def summarise(tables: dict[str, pd.DataFrame | str], comparisons: Sequence[Comparison] = COMPARISONS) -> pd.DataFrame:
    """A summary row per artefact; ``tables`` maps file name → our table, or → why it was not produced."""
    rows = []
    for comparison in comparisons:
        table = tables.get(comparison.file, "not produced by this run")
        if isinstance(table, str):
            rows.append({"artefact": comparison.artefact, "file": comparison.file, "largest_differences": table})
        else:
            rows.append(compare(table, comparison))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def render(summary: pd.DataFrame, notes: Iterable[str]) -> str:
    """The Markdown page: what was compared, then one line per artefact."""
    lines = ["# How close this run came to the paper", ""] + [f"- {note}" for note in notes] + [
        "",
        "| artefact | file | paper cells | compared | within paper CI | exact | mean abs Δ | largest differences |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in summary.itertuples(index=False):
        within = "n/a (no CI published)" if pd.isna(row.within_paper_ci) else (
            f"{int(row.within_paper_ci)} of {int(row.compared)}" if row.compared else "")
        lines.append(" | ".join([
            f"| {row.artefact}", f"`{row.file}`", _count(row.paper_cells), _count(row.compared),
            within if pd.notna(row.paper_cells) else "", _count(row.exact), _number(row.mean_abs_difference),
            f"{row.largest_differences or ''} |",
        ]))
    return "\n".join(lines) + "\n"


def _key(row: pd.Series, keys: Sequence[str]) -> str:
    return " / ".join(str(row[k]) for k in keys)


def _number(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1000 else f"{value:g}"


def _count(value) -> str:
    return "" if value is None or pd.isna(value) else str(int(value))
