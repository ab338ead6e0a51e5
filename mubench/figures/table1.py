"""Table 1: the official pooled accuracy per subset and model, with CIs, beside the paper's published values."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from mubench.benchmark.sources import source_of
from mubench.models.spec import ModelSpec

TABLE1_COLUMNS = [
    "subset", "model", "accuracy", "ci_low", "ci_high", "ci_halfwidth", "n_questions", "paper_accuracy", "paper_ci",
]
PERCENT_COLUMNS = ["accuracy", "ci_low", "ci_high", "ci_halfwidth"]


def read_reference(path) -> pd.DataFrame:
    """The paper's Table 1/19 values (percent; ``ci`` is its "±")."""
    return pd.read_csv(path, comment="#")


def build_table1(
    scores: pd.DataFrame, models: Sequence[ModelSpec], subsets: Sequence[str], reference: pd.DataFrame,
    scope: str = "all",
) -> pd.DataFrame:
    """Rows ordered by subset (config order) then accuracy, best first, as in the paper; percent, 2 decimals.

    Rows are named by label, which Table 19 maps back to the model: two models with one label are refused.
    ``scope`` picks the rows scored (Table 20: ``domain=pathology``).
    """
    labels = Counter(spec.label for spec in models)
    shared = sorted(label for label, n in labels.items() if n > 1)
    if shared:
        raise ValueError(f"models share the label(s) {shared}: give each model its own `label` in the config")
    totals = scores[(scores["scope"] == scope) & (scores["level"] == "total")].set_index(["model", "subset"])
    paper = reference.set_index(["subset", "model"])
    rows = []
    for subset in subsets:
        for spec in models:
            if (spec.name, subset) not in totals.index:
                raise KeyError(f"no score for model {spec.name!r}, subset {subset!r}, scope {scope!r}")
            total = totals.loc[(spec.name, subset)]
            published = paper.loc[(subset, spec.paper_name)] if (subset, spec.paper_name) in paper.index else None
            rows.append({
                "subset": subset,
                "model": spec.label,
                **{col: 100 * total[col] for col in PERCENT_COLUMNS},
                "n_questions": int(total["n"]),
                "paper_accuracy": None if published is None else published["accuracy"],
                "paper_ci": None if published is None else published["ci"],
            })
    table = pd.DataFrame(rows, columns=TABLE1_COLUMNS)
    table[PERCENT_COLUMNS] = table[PERCENT_COLUMNS].round(2)
    order = {s: i for i, s in enumerate(subsets)}
    table = table.sort_values(
        by=["subset", "accuracy", "model"], key=lambda col: col.map(order) if col.name == "subset" else col,
        ascending=[True, False, True], kind="stable",
    )
    return table.reset_index(drop=True)


def breakdown_table(scores: pd.DataFrame, models: Sequence[ModelSpec]) -> pd.DataFrame:
    """Every level (type, dataset, macro) and scope, percent — the detail behind Table 1.

    Both intervals are kept (question rows resampled, images resampled with all their questions) with
    ``images_to_rows_width``, how many times wider the image interval is: how much the row CI understates.
    """
    labels = {spec.name: spec.label for spec in models}
    table = scores.assign(model=scores["model"].map(labels))
    rows_width = (table["rows_ci_high"] - table["rows_ci_low"]).where(lambda w: w > 0)
    table["images_to_rows_width"] = ((table["images_ci_high"] - table["images_ci_low"]) / rows_width).round(2)
    percent = PERCENT_COLUMNS + ["rows_ci_low", "rows_ci_high", "images_ci_low", "images_ci_high"]
    table[percent] = (100 * table[percent]).round(2)
    return table.rename(columns={"n": "n_questions"}).reset_index(drop=True)


def _cell(value) -> str:
    if value is None or pd.isna(value):
        return ""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


TIED_MARK = "†"


def table1_title(source: str) -> str:
    return f"Table 1 — {source_of(source).title} accuracy (%)"


def mark_tied(table: pd.DataFrame, tied: Mapping[str, set[str]]) -> pd.DataFrame:
    """Table 1 with TIED_MARK after the models (``tied``: subset → labels) not significantly different from the
    best of their subset — for the Markdown and LaTeX renderings; the CSV keeps plain names."""
    marked = [f"{model} {TIED_MARK}" if model in tied.get(subset, ()) else model
              for subset, model in zip(table["subset"], table["model"])]
    return table.assign(model=marked)


def render_markdown(table: pd.DataFrame, notes: Iterable[str], title: str = table1_title("ubench")) -> str:
    """Markdown with one section per subset: ours as "acc ± halfwidth [low, high]" beside the paper's."""
    lines = [f"# {title}", ""]
    lines += [f"- {note}" for note in notes]
    for subset, rows in table.groupby("subset", sort=False):
        lines += ["", f"## {subset}", "", "| model | accuracy | 95% CI | n | paper | paper ± |",
                  "|---|---:|---:|---:|---:|---:|"]
        for r in rows.itertuples():
            lines.append(
                f"| {r.model} | {r.accuracy:.2f} ± {r.ci_halfwidth:.2f} | [{r.ci_low:.2f}, {r.ci_high:.2f}] "
                f"| {r.n_questions} | {_cell(r.paper_accuracy)} | {_cell(r.paper_ci)} |"
            )
    return "\n".join(lines) + "\n"
