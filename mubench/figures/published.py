"""Which published numbers Table 1 prints beside ours, per benchmark source, and what a reader must know of them.

μ-Bench sources compare with the paper's Table 1; MicroVQA with its authors' leaderboard (overall and per task), plus
MicroVQA++'s headline result on MicroVQA. MicroVQA++'s own test set has no published results yet, so nothing is
printed beside it rather than MicroVQA's numbers, which measure another question set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from mubench.benchmark.tables import COGNITION_TASKS

# Paths under paper_figures/: the μ-Bench paper's numbers in reference/, other benchmarks' in published/.
REFERENCE_FILES = {"microvqa": "published/microvqa_leaderboard.csv", "microvqapp": "published/microvqa_leaderboard.csv"}
MUBENCH_REFERENCE = "reference/paper_table1.csv"
MICROVQAPP_HEADLINE = "InternVL3.5-4B (MicroVQA++ fine-tuned)"  # its model name in microvqa_leaderboard.csv


def reference_file(source: str) -> str:
    """The file under paper_figures/ whose values Table 1 prints for ``source``."""
    return REFERENCE_FILES.get(source, MUBENCH_REFERENCE)


def measured_here(source: str) -> bool:
    """Whether the published values were measured on this benchmark (the demo only borrows μ-Bench's, to orient)."""
    return source == "ubench" or source in REFERENCE_FILES


def for_benchmark(reference: pd.DataFrame, source: str) -> pd.DataFrame:
    """Only the rows measured on this benchmark (files without a ``benchmark`` column hold μ-Bench's values)."""
    if "benchmark" not in reference.columns:
        return reference
    return reference[reference["benchmark"] == source].reset_index(drop=True)


def published_notes(source: str) -> list[str]:
    """Table 1's notes on the published columns."""
    if source == "microvqa":
        return [
            "paper: overall accuracy on MicroVQA's leaderboard (github.com/jmhb0/microvqa; arXiv 2503.13399) for the "
            "model of the same name (`paper_name`); no CIs are published; per-task values are in "
            "table1_breakdown.csv and below",
            "MicroVQA++ (arXiv 2511.11407): InternVL3.5-4B-Instruct fine-tuned on MicroVQA++ reaches 59.4 % mean "
            f"accuracy on MicroVQA; give such a model `paper_name: {MICROVQAPP_HEADLINE}` to print it beside",
        ]
    if source == "microvqapp":
        return [
            "paper: none — no results on MicroVQA++'s own questions are published yet; MicroVQA's leaderboard "
            "measures another question set and is not printed",
            "MicroVQA++ (arXiv 2511.11407) reports InternVL3.5-4B-Instruct fine-tuned on it at 59.4 % on MicroVQA "
            "(configs/microvqa.yaml scores a model on MicroVQA itself)",
        ]
    notes = ["paper / paper ±: published μ-Bench values (arXiv 2407.01791) for the model of the same name"]
    if source != "ubench":
        notes.append("this is NOT the μ-Bench data: paper columns are printed for orientation only")
    return notes


def protocol_notes(manifest: Mapping, models: Sequence) -> list[str]:
    """How the generative models among ``models`` were asked, when it is not μ-Bench's letter prompt."""
    if manifest.get("protocol") != "microvqa_cot" or not any(spec.kind == "generative" for spec in models):
        return []
    return ["generative models: MicroVQA's chain-of-thought prompt, options numbered (1)…; the answer is read by "
            "its rule (the first \"answer is\", then one digit); an unparseable answer counts as wrong and is "
            "counted in sensitivity.csv (n_unparseable)"]


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
