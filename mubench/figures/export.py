"""Every paper table as CSV (the data), Markdown (to read on GitHub) and LaTeX (to paste into a paper)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from mubench.io import atomic_write


def write_table(table: pd.DataFrame, csv, md, tex, title: str, notes: Iterable[str] = ()) -> None:
    """The same rows three ways; Markdown and LaTeX show floats with 2 decimals and blanks for missing values."""
    notes = list(notes)
    atomic_write(csv, lambda tmp: table.to_csv(tmp, index=False))
    atomic_write(md, lambda tmp: _write_text(tmp, markdown(table, title, notes)))
    atomic_write(tex, lambda tmp: _write_text(tmp, latex(table, title, notes)))


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


def latex(table: pd.DataFrame, title: str, notes: Iterable[str] = ()) -> str:
    """A booktabs ``table`` environment (pandas Styler), the notes as a LaTeX comment above it."""
    styler = table.style.hide(axis="index").format(precision=2, na_rep="", escape="latex")
    styler = styler.format_index(escape="latex", axis="columns")
    body = styler.to_latex(caption=_escape_latex(title), hrules=True, position_float="centering")
    comments = "".join(f"% {note}\n" for note in notes)
    return comments + body


def _markdown_cell(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.2f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _escape_latex(text: str) -> str:
    return re.sub(r"[\\&%$#_{}~^]", lambda m: _LATEX_SPECIAL[m.group()], text)


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
