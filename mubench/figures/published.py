"""The published numbers beside ours: the rows of a reference file measured on this benchmark, per-task values, and
the notes on how the models were asked. Which file a source compares with, and what Table 1 says of it, is the
source's own fact (mubench/benchmark/sources.py): μ-Bench sources compare with the paper's Table 1; MicroVQA with
its authors' leaderboard (overall and per task) plus MicroVQA++'s headline result on MicroVQA; MicroVQA++'s own
test set has no published results yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from mubench.benchmark.tables import COGNITION_TASKS

def for_benchmark(reference: pd.DataFrame, source: str) -> pd.DataFrame:
    """Only the rows measured on this benchmark (files without a ``benchmark`` column hold μ-Bench's values)."""
    if "benchmark" not in reference.columns:
        return reference
    return reference[reference["benchmark"] == source].reset_index(drop=True)


def protocol_notes(manifest: Mapping, models: Sequence) -> list[str]:
    """How the generative models among ``models`` were asked, when it is not μ-Bench's letter prompt."""
    if manifest.get("protocol") != "microvqa_cot" or not any(spec.kind == "generative" for spec in models):
        return []
    return ["generative models: MicroVQA's chain-of-thought prompt, options numbered (1)…; the answer is read by "
            "its rule (the first \"answer is\", then one digit); an unparseable answer counts as wrong and is "
            "counted in sensitivity.csv (n_unparseable; beside it n_bad_microvqa_scorer, the bad responses "
            "MicroVQA's own scorer counts: no digit, or one outside 1–5)"]


def skip_notes(manifest: Mapping, models: Sequence) -> list[str]:
    """One note per model that skipped the benchmark's multi-image questions (it takes one image per question)."""
    several = int(manifest.get("multi_image_questions", 0))
    if not several:
        return []
    return [f"{spec.label}: takes one image per question, so the {several} questions with several images are "
            f"skipped (its n is smaller)" for spec in models if not spec.takes_several_images]


def per_task_published(breakdown: pd.DataFrame, reference: pd.DataFrame, models: Sequence) -> pd.DataFrame:
    """The breakdown with ``paper_accuracy`` beside each task row (and each total) of a model the reference has."""
    tasks = [t for t in COGNITION_TASKS if t in reference.columns]
    if not tasks:
        return breakdown
    by_label = {spec.label: spec.paper_name for spec in models}
    published = reference.set_index("model")
    values = []
    for row in breakdown.itertuples():
        name = by_label.get(row.model)
        column = ("accuracy" if row.level == "total" else row.group if row.level == "question_type" and
                  row.group in tasks else None)
        found = name in published.index and column is not None and row.scope == "all"
        values.append(published.at[name, column] if found else None)
    return breakdown.assign(paper_accuracy=values)


def render_tasks(breakdown: pd.DataFrame) -> list[str]:
    """Markdown lines: per task, each model's accuracy with its CI beside the published value."""
    rows = breakdown[(breakdown["scope"] == "all") & (breakdown["level"] == "question_type")]
    if rows.empty or not rows["group"].isin(COGNITION_TASKS).any():
        return []
    lines = ["", "## per task", "", "| task | model | accuracy | 95% CI | n | paper |", "|---|---|---:|---:|---:|---:|"]
    for r in rows.sort_values(["group", "accuracy"], ascending=[True, False], kind="stable").itertuples():
        paper = getattr(r, "paper_accuracy", None)
        lines.append(f"| {r.group} | {r.model} | {r.accuracy:.2f} | [{r.ci_low:.2f}, {r.ci_high:.2f}] "
                     f"| {r.n_questions} | {'' if paper is None or pd.isna(paper) else f'{paper:.1f}'} |")
    return lines
