"""A table as a paper prints it: the columns it shows (headers, formatted cells, bold, marks), row groups, a caption,
notes, and the CSV columns it leaves out. mubench.figures.latex and mubench.figures.html render the same layout, so
the LaTeX a paper ``\\input``s and the page the report shows never disagree.

A layout is built from a table's CSV frame and a list of Show specs: which CSV columns one printed column shows and
how. A column with no value in any row is left out; every CSV column not printed is named in the caption ("not
shown"), never dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

MISSING = "–"  # a blank cell: the value is not there (e.g. no published value)


@dataclass(frozen=True)
class Cell:
    """One printed cell: its text, bold (the best of a column) and marks set as superscripts after it (†, ‡)."""

    text: str
    bold: bool = False
    marks: str = ""


@dataclass(frozen=True)
class Column:
    """A printed column: header lines (top to bottom), one cell per row, ``l``eft or ``r``ight aligned."""

    header: tuple[str, ...]
    cells: tuple[Cell, ...]
    align: str


@dataclass(frozen=True)
class PaperTable:
    """What a paper prints. ``groups``: per row, the heading of the block of rows it belongs to (None: no blocks);
    ``key_columns``: the leading columns that name a row, repeated when a wide table is split into parts."""

    title: str
    columns: tuple[Column, ...]
    notes: tuple[str, ...] = ()
    groups: tuple[str, ...] | None = None
    key_columns: int = 1
    not_shown: tuple[str, ...] = ()
    source: str = ""  # the CSV file holding every column

    @property
    def n_rows(self) -> int:
        return len(self.columns[0].cells) if self.columns else 0

    def caption(self) -> str:
        """The title, then what the CSV holds beyond the printed columns."""
        if not self.not_shown:
            return self.title
        return (f"{self.title}. Not shown here, in {self.source or 'the CSV'}: "
                f"{', '.join(self.not_shown)}")


@dataclass(frozen=True)
class Show:
    """A printed column made from CSV ``sources``: ``render(row)`` gives its cell (default: the first source's value,
    formatted); ``align`` default: right for numbers, left for text."""

    header: str | tuple[str, ...]
    sources: tuple[str, ...]
    render: Callable[[pd.Series], Cell | str] | None = None
    align: str | None = None


def show(column: str, header: str | tuple[str, ...] | None = None, digits: int = 2) -> Show:
    """One CSV column as it is, numbers with ``digits`` decimals (whole numbers without)."""
    return Show(header or humanise(column), (column,), lambda row: format_value(row[column], digits))


def plus_minus(value: str, halfwidth: str, header: str, also: Sequence[str] = ()) -> Show:
    """"value ± halfwidth" (the paper's way to print an accuracy with its CI), ``also``: the columns it stands for
    besides (e.g. the interval bounds)."""
    return Show(header, (value, halfwidth, *also), lambda row: with_halfwidth(row[value], row[halfwidth]), "r")


def with_halfwidth(value, halfwidth) -> str:
    if _missing(value):
        return MISSING
    return f"{value:.2f}" if _missing(halfwidth) else f"{value:.2f} ± {halfwidth:.2f}"


def layout(table: pd.DataFrame, specs: Sequence[Show], title: str, notes: Iterable[str] = (), *,
           group_by: str | None = None, key_columns: int = 1, source: str = "",
           group_names: Callable[[str], str] = str) -> PaperTable:
    """The PaperTable of ``table`` printed with ``specs``; ``group_by``: a column whose values head blocks of rows
    (in the order they first appear)."""
    columns, used = [], {group_by}
    for position, spec in enumerate(specs):
        cells = tuple(_as_cell(spec.render(row) if spec.render else format_value(row[spec.sources[0]]))
                      for _, row in table.iterrows())
        if cells and position >= key_columns and all(cell.text == MISSING for cell in cells):
            continue  # a column with no value (e.g. the paper's, on a benchmark it did not measure): not printed
        align = spec.align or ("r" if all(_numeric(table[c]) for c in spec.sources) else "l")
        header = (spec.header,) if isinstance(spec.header, str) else tuple(spec.header)
        columns.append(Column(header, cells, align))
        used |= set(spec.sources)
    groups = None if group_by is None else tuple(group_names(str(value)) for value in table[group_by])
    return PaperTable(title, tuple(columns), tuple(notes), groups, key_columns,
                      tuple(c for c in table.columns if c not in used), source)


def default_layout(table: pd.DataFrame, title: str, notes: Iterable[str] = (), source: str = "") -> PaperTable:
    """Every CSV column as it is, under a readable header."""
    return layout(table, [show(c) for c in table.columns], title, notes, source=source)


HEADERS = {"n_questions": "n", "n": "n", "paper_ci": "Paper ±", "ci_halfwidth": "±", "ci_low": "CI low",
           "ci_high": "CI high"}


def humanise(column: str) -> str:
    """A CSV column name as a header: ``paper_total_images`` → "Paper total images"."""
    if column in HEADERS:
        return HEADERS[column]
    words = column.replace("_", " ")
    return words[:1].upper() + words[1:]


def format_value(value, digits: int = 2) -> str:
    """A CSV value as printed: 2 decimals for fractions, whole numbers plain, yes/no, MISSING for a blank."""
    if _missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.{digits}f}"
    return str(value)


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and np.isnan(value)) or \
        (isinstance(value, str) and value == "")


def _numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _as_cell(value: Cell | str) -> Cell:
    return value if isinstance(value, Cell) else Cell(value)
