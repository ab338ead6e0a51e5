"""Table 1: the official pooled accuracy per subset and model, with CIs, beside the paper's published values."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from mubench.benchmark.sources import source_of
from mubench.figures.paper_table import Cell, Column, PaperTable, Show, layout, show, with_halfwidth
from mubench.models.spec import ModelSpec
from mubench.scoring.bootstrap import SMALL_N

TABLE1_COLUMNS = [
    "subset", "model", "accuracy", "ci_low", "ci_high", "ci_halfwidth", "n_questions", "paper_accuracy", "paper_ci",
    "small_n",
]
PERCENT_COLUMNS = ["accuracy", "ci_low", "ci_high", "ci_halfwidth"]


def read_reference(path) -> pd.DataFrame:
    """The paper's Table 1/19 values (percent; ``ci`` is its "±")."""
    return pd.read_csv(path, comment="#")


def build_table1(
    scores: pd.DataFrame, models: Sequence[ModelSpec], subsets: Sequence[str], reference: pd.DataFrame,
    scope: str = "all",
) -> pd.DataFrame:
    """Rows ordered by subset (config order) then accuracy, best first, as in the paper; percent, 2 decimals;
    ``small_n``: fewer than SMALL_N questions, too few for the interval to mean much.

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
                "small_n": bool(total["n"] < SMALL_N),
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
    table = scores.assign(model=scores["model"].map(labels), small_n=scores["n"] < SMALL_N)
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
SMALL_N_MARK = "‡"
CI_NOTES = [
    f"intervals are clipped to [0, 100]: the basic bootstrap reflects the resampled accuracies around the estimate "
    f"and can reach past the possible range (a clipped ± is the distance to 100)",
    f"{SMALL_N_MARK} = fewer than {SMALL_N} questions (small_n in the CSV): the interval moves in steps of 100/n "
    "points and covers the true accuracy less often than it claims; read it as a rough range",
]


def table1_title(source: str) -> str:
    return f"Table 1 — {source_of(source).title} accuracy (%)"


def printed_table1(table: pd.DataFrame, tied: Mapping[str, set[str]], title: str, notes: Iterable[str],
                   source: str) -> PaperTable:
    """Table 1 as the paper prints it: one row per model, one column per subset, "accuracy ± half-width", the best
    of each subset in bold, TIED_MARK on the models ``tied`` with it, SMALL_N_MARK where n < SMALL_N; n in the
    header. Works for any table with Table 1's columns (Table 20)."""
    subsets = list(dict.fromkeys(table["subset"]))
    models = list(dict.fromkeys(table["model"]))  # the first subset's order: best first
    cells = table.set_index(["subset", "model"])
    columns = [Column(("Model",), tuple(Cell(m) for m in models), "l")]
    varying = []
    for subset in subsets:
        rows = cells.loc[subset]
        best = rows["accuracy"].max()
        counts = sorted(set(rows["n_questions"]))
        if len(counts) > 1:
            varying.append(subset)
        column = []
        for model in models:
            if model not in rows.index:
                column.append(Cell("–"))
                continue
            row = rows.loc[model]
            marks = (TIED_MARK if model in tied.get(subset, ()) else "") + (SMALL_N_MARK if row["small_n"] else "")
            column.append(Cell(with_halfwidth(row["accuracy"], row["ci_halfwidth"]), row["accuracy"] == best, marks))
        n = f"n = {counts[0]}" if len(counts) == 1 else f"n = {counts[0]}–{counts[-1]}"
        columns.append(Column((subset.capitalize(), n), tuple(column), "r"))
    notes = [*notes, "bold = the most accurate model of the subset"]
    if varying:
        notes.append(f"n differs between models in {', '.join(varying)} (a model skips questions it cannot take): "
                     f"n per model in {source}")
    shown = {"subset", "model", "accuracy", "ci_halfwidth", "n_questions", "small_n"}
    return PaperTable(title, tuple(columns), tuple(notes), None, 1,
                      tuple(c for c in table.columns if c not in shown), source)


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


def printed_table19(table: pd.DataFrame, title: str, notes: Iterable[str], source: str) -> PaperTable:
    """Table 19 as a paper prints it: per subset, every model (merged ones with their α) with its accuracy ± CI, its
    accuracy on the merging slices and the paper's value."""
    def accuracy(row):
        return Cell(with_halfwidth(row["accuracy"], row["ci_halfwidth"]), marks=SMALL_N_MARK if row["small_n"] else "")

    specs = [
        show("model", "Model"), show("alpha", "α"),
        Show("All", ("accuracy", "ci_halfwidth", "small_n"), accuracy, "r"),
        show("pathology_accuracy", "Pathology"), show("he_accuracy", "H&E"),
        show("non_pathology_accuracy", "Non-path."),
        Show("Paper", ("paper_accuracy", "paper_ci"),
             lambda row: with_halfwidth(row["paper_accuracy"], row["paper_ci"]), "r"),
    ]
    return layout(table, specs, title, notes, group_by="subset", source=source,
                  group_names=str.capitalize)
