"""A small self-contained HTML page per table, which Snakemake's report shows inline (it offers anything but images,
HTML and PDF only as a download): the table as the paper prints it (mubench.figures.paper_table), its caption and
notes, then every column of the CSV in a folded section. No script, no network."""

from __future__ import annotations

from html import escape

import pandas as pd

from mubench.figures.paper_table import Cell, PaperTable

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em; color: #222; }
h1 { font-size: 1.15em; margin: 0 0 .6em; }
table { border-collapse: collapse; margin: .4em 0 .8em; }
th, td { padding: .2em .6em; vertical-align: top; }
td.r, th { white-space: nowrap; } td.l { max-width: 40em; }
thead th { border-bottom: 1px solid #444; font-weight: 600; }
table { border-top: 2px solid #222; border-bottom: 2px solid #222; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
td.l, th.l { text-align: left; }
tr.group th { text-align: left; font-style: italic; font-weight: normal; padding-top: .6em; }
ul.notes { font-size: .9em; color: #444; padding-left: 1.2em; }
p.caption { font-size: .9em; color: #444; }
details { margin-top: 1em; } summary { cursor: pointer; color: #225; }
.scroll { overflow-x: auto; }
"""


def page(table: PaperTable, data: pd.DataFrame | None = None) -> str:
    """The HTML document: ``table`` as printed, its notes, and ``data`` (the CSV's rows, every column) folded below
    when the printed table leaves columns out or reshapes the rows."""
    parts = [f"<h1>{escape(table.title)}</h1>"]
    if table.not_shown:
        parts.append(f'<p class="caption">{escape(table.caption().removeprefix(table.title + ". "))}</p>')
    parts.append(f'<div class="scroll">{_printed(table)}</div>')
    if table.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in table.notes) + "</ul>")
    if data is not None:
        parts.append(f"<details><summary>Every column of {escape(table.source or 'the CSV')} ({len(data)} rows)"
                     f'</summary><div class="scroll">{_data(data)}</div></details>')
    title = escape(table.title)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n")


def _printed(table: PaperTable) -> str:
    depth = max((len(c.header) for c in table.columns), default=1)
    head = []
    for level in range(depth):
        cells = [(c.header[level - (depth - len(c.header))] if level >= depth - len(c.header) else "", c.align)
                 for c in table.columns]
        head.append("<tr>" + "".join(f'<th class="{a}">{escape(h)}</th>' for h, a in cells) + "</tr>")
    body, group = [], None
    for r in range(table.n_rows):
        if table.groups is not None and table.groups[r] != group:
            group = table.groups[r]
            body.append(f'<tr class="group"><th colspan="{len(table.columns)}">{escape(group)}</th></tr>')
        body.append("<tr>" + "".join(f'<td class="{c.align}">{_cell(c.cells[r])}</td>' for c in table.columns)
                    + "</tr>")
    return f"<table><thead>{''.join(head)}</thead><tbody>{''.join(body)}</tbody></table>"


def _cell(cell: Cell) -> str:
    text = escape(cell.text)
    if cell.bold:
        text = f"<strong>{text}</strong>"
    return text + (f"<sup>{escape(cell.marks)}</sup>" if cell.marks else "")


def _data(data: pd.DataFrame) -> str:
    numeric = [pd.api.types.is_numeric_dtype(data[c]) and not pd.api.types.is_bool_dtype(data[c])
               for c in data.columns]
    align = ["r" if n else "l" for n in numeric]
    head = "".join(f'<th class="{a}">{escape(str(c))}</th>' for c, a in zip(data.columns, align))
    rows = "".join("<tr>" + "".join(f'<td class="{a}">{escape(_raw(v))}</td>' for v, a in zip(row, align))
                   + "</tr>" for row in data.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _raw(value) -> str:
    """A CSV value as the CSV holds it (blank when missing)."""
    return "" if value is None or value is pd.NA or (isinstance(value, float) and value != value) else str(value)
