"""Every paper table as CSV (the data), Markdown (to read on GitHub), LaTeX (to ``\\input`` in a paper) and HTML (shown
inside the report). The LaTeX and the HTML print the same layout (mubench.figures.paper_table): the table's own when
it has one (Table 1: models × subsets), else every column under a readable header."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from mubench.figures import html, latex
from mubench.figures.paper_table import PaperTable, default_layout
from mubench.io import atomic_write


class TableFiles(NamedTuple):
    csv: str
    md: str
    tex: str
    html: str


def output_files(output, name: str) -> TableFiles:
    """The files of table ``name`` in a rule's output (rules/common.smk named_table_files: name, name_md, …)."""
    return TableFiles(output[name], output[f"{name}_md"], output[f"{name}_tex"], output[f"{name}_html"])


def write_table(table: pd.DataFrame, files: TableFiles, title: str, notes: Iterable[str] = (),
                printed: PaperTable | None = None, markdown_text: str | None = None) -> None:
    """The same table four ways. ``printed``: its paper layout for LaTeX and HTML (default: every column with a value,
    as it is); the HTML folds every CSV column below a layout that reshapes or leaves out any; ``markdown_text``: its
    own Markdown."""
    notes = list(notes)
    table = readable_labels(table)
    source = Path(files.csv).name
    layout = printed or default_layout(table, title, notes, source)
    write_csv(table, files.csv)
    write_text(files.md, markdown_text or markdown(table, title, notes))
    write_text(files.tex, latex.render(layout, latex_label(files.tex)))
    write_text(files.html, html.page(layout, table if printed is not None or layout.not_shown else None))


def write_data_table(table: pd.DataFrame, csv, html_path, title: str, notes: Iterable[str] = ()) -> None:
    """A table beyond the paper's (no LaTeX): the CSV, and every column of it as an HTML page for the report."""
    table = readable_labels(table)
    write_csv(table, csv)
    write_text(html_path, html.page(default_layout(table, title, notes, Path(csv).name)))


def latex_label(tex_path) -> str:
    """``tab:<benchmark>:<stem>`` from ``paper_figures/<benchmark>/<stem>.tex``: unique across benchmarks."""
    path = Path(tex_path)
    return f"tab:{path.parent.name}:{path.stem}"


# Strings pandas' read_csv turns into a missing value by default (its STR_NA_VALUES): a label spelled so (the stain
# "None") is written in lower case when that is not one of them, else in quotes, so the CSV reads back as written.
_READ_AS_MISSING = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
                    "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}


def csv_label(value):
    """``value`` as a CSV cell that pandas reads back as the same text: "None" → "none"; others unchanged."""
    if not isinstance(value, str) or value == "" or value not in _READ_AS_MISSING:
        return value
    return value.lower() if value.lower() not in _READ_AS_MISSING else f"'{value}'"


def readable_labels(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every text label as csv_label writes it, so that all four files of a table say the same."""
    text = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    return table.assign(**{c: table[c].map(csv_label) for c in text})


def write_csv(table: pd.DataFrame, path) -> None:
    """``table`` as CSV, text labels written so that ``pd.read_csv`` reads them back as text (csv_label)."""
    atomic_write(path, lambda tmp: readable_labels(table).to_csv(tmp, index=False))


def write_text(path, text: str) -> None:
    """UTF-8 whatever the locale (μ, †, ±)."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def describe_benchmark(manifest: dict) -> str:
    """"<source> (<revision>)" for table notes; a built benchmark's revision is the versions it was built with."""
    revision = manifest.get("revision", "n/a")
    if isinstance(revision, dict):
        revision = ", ".join(f"{k} {v}" for k, v in revision.items())
    return f"{manifest['source']} ({revision})"


def markdown(table: pd.DataFrame, title: str, notes: Iterable[str] = ()) -> str:
    """A GitHub pipe table under a heading, with notes as a list above it."""
    lines = [f"# {title}", ""] + [f"- {note}" for note in notes]
    if lines[-1] != "":
        lines.append("")
    header = [str(c) for c in table.columns]
    numeric = [pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])
               for c in table.columns]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(_markdown_cell(v) for v in row) + " |")
    if table.empty:
        lines.append("")
        lines.append("(no rows)")
    return "\n".join(lines) + "\n"


def _markdown_cell(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.2f}"
    return re.sub(r"\s+", " ", str(value).replace("|", "\\|"))
