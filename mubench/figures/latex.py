"""LaTeX of a PaperTable: a ``table`` float a paper can ``\\input`` under a preamble of just
``\\documentclass{article}\\usepackage{booktabs}``.

Pure ASCII out (every other character is escaped or spelled as a LaTeX command), booktabs rules, the caption above
the table, a label ``tab:<benchmark>:<stem>``, the notes in small type below it. It fits the text width of a default
``article`` page (345 pt, 10 pt type): the writer measures each column with Computer Modern's character widths and
takes the largest of \\normalsize, \\small, \\footnotesize and \\scriptsize that fits, long text wrapped inside its
column (narrower before the font gets smaller); a table still too wide is split into parts that repeat the key
columns; a table too long for a page continues in a further
float ("continued"). A test compiles every table and fails on any overfull box.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, replace

from mubench.figures.paper_table import Cell, Column, PaperTable

TEXT_WIDTH = 345.0  # pt, \textwidth of article at 10 pt on letter paper
TEXT_HEIGHT = 550.0  # pt, \textheight
FIT = 0.97  # keep this share of the text width: the widths below are estimates


@dataclass(frozen=True)
class FontSize:
    command: str
    points: float
    scale: float  # character widths of this design size relative to cmr10's, scaled
    baseline: float  # \baselineskip, pt


NORMAL, SMALL, FOOTNOTE, SCRIPT = (FontSize("", 10.0, 1.0, 12.0), FontSize(r"\small", 9.0, 1.028, 11.0),
                                   FontSize(r"\footnotesize", 8.0, 1.062, 9.5),
                                   FontSize(r"\scriptsize", 7.0, 1.104, 8.0))
NOTES_SIZE = FOOTNOTE
# (font size, wrap width, \tabcolsep): a text cell wider than the wrap width (em of its font) wraps inside a
# parbox that wide. Tried in order, the first that fits the text width is taken; a table none fits is split into
# parts, set as SPLIT_AT.
CANDIDATES = ((NORMAL, 16.0, 6.0), (SMALL, 16.0, 6.0), (FOOTNOTE, 16.0, 6.0), (FOOTNOTE, 16.0, 4.0),
              (FOOTNOTE, 11.0, 4.0), (SCRIPT, 16.0, 4.0), (SCRIPT, 11.0, 4.0), (SCRIPT, 8.0, 4.0))
SPLIT_AT = (FOOTNOTE, 11.0, 4.0)

# cmr10 advance widths of the printable ASCII characters 32..126, in thousandths of an em (from cmr10.tfm; 32 is the
# interword space).
_CMR10 = [int(w) for w in (
    "333 278 500 833 500 833 778 278 389 389 500 778 278 333 278 500 500 500 500 500 500 500 500 500 500 500 278 278 "
    "278 778 472 472 778 750 708 722 764 681 653 785 750 361 514 778 625 917 750 778 681 778 736 556 722 750 750 1028 "
    "750 750 611 278 500 278 500 278 278 500 556 444 556 444 306 500 556 278 306 528 278 833 556 500 556 528 392 394 "
    "389 556 528 722 528 528 444 500 1000 500 500").split()]
_WIDE = {"—": 1.0, "±": 0.78, "×": 0.78, "≥": 0.78, "≤": 0.78, "≈": 0.78, "→": 1.0, "–": 0.5, "…": 1.0}
BOLD = 1.2  # cmbx is wider than cmr: up to 1.26×, 1.16× on average

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
            ">": r"\textgreater{}", "|": r"\textbar{}", '"': "''",
            "[": "{[}", "]": "{]}"}  # braced: never read as an optional argument (after \\ or in \caption[...])
_UNICODE = {
    "±": r"$\pm$", "×": r"$\times$", "≥": r"$\geq$", "≤": r"$\leq$", "≈": r"$\approx$", "≠": r"$\neq$",
    "→": r"$\rightarrow$", "←": r"$\leftarrow$", "↔": r"$\leftrightarrow$", "−": r"$-$", "–": "--", "—": "---",
    "…": r"\ldots{}", "†": r"\dag{}", "‡": r"\ddag{}", "§": r"\S{}", "¶": r"\P{}", "°": r"$^{\circ}$",
    "µ": r"$\mu$", "‖": r"$\|$", "·": r"$\cdot$", "•": r"$\bullet$", "‘": "`", "’": "'", "“": "``", "”": "''",
    "★": r"$\star$", "☆": r"$\star$", "∞": r"$\infty$", "√": r"$\surd$", "²": r"$^{2}$", "³": r"$^{3}$",
    "¹": r"$^{1}$", "½": r"$\frac{1}{2}$", "\u00a0": "~", "\u2009": r"\,", "\u202f": r"\,", "ß": r"\ss{}",
    "æ": r"\ae{}", "Æ": r"\AE{}", "ø": r"\o{}", "Ø": r"\O{}", "å": r"\aa{}", "Å": r"\AA{}", "ł": r"\l{}",
    "Ł": r"\L{}", "œ": r"\oe{}", "Œ": r"\OE{}", "ı": r"\i{}", "©": r"\copyright{}", "∼": r"$\sim$",
    "≡": r"$\equiv$", "∆": r"$\Delta$", "Ω": r"$\Omega$", "™": r"\texttrademark{}",
}
_ACCENTS = {"\u0301": "'", "\u0300": "`", "\u0302": "^", "\u0308": '"', "\u0303": "~", "\u0304": "=",
            "\u0307": ".", "\u0327": "c", "\u030c": "v", "\u0306": "u", "\u030a": "r", "\u030b": "H"}
_GREEK_CAPITALS = {"GAMMA", "DELTA", "THETA", "LAMDA", "XI", "PI", "SIGMA", "UPSILON", "PHI", "PSI", "OMEGA"}
_BREAK_AFTER = re.compile(r"(?<=[/_])(?=\S)|(?<=[A-Za-z0-9][.:-])(?=[A-Za-z])")
_LONG_RUN = 16  # characters without a break point after which one is allowed anyway
# "Table 1 — μ-Bench accuracy": the paper's number, not the one LaTeX gives it in another paper
_PAPER_NUMBER = re.compile(r"^Table \d+ — ")


def escape(text: str, breakable: bool = False) -> str:
    """``text`` as LaTeX in pure ASCII; ``breakable``: lines may break after / and _, inside dotted or
    hyphenated names and in runs longer than _LONG_RUN characters (file names, checkpoints, in wrapped text)."""
    pieces = _break_points(text) if breakable else [text]
    return r"\allowbreak{}".join("".join(_escape_char(ch) for ch in piece) for piece in pieces)


def _break_points(text: str) -> list[str]:
    pieces = []
    for piece in _BREAK_AFTER.split(text):
        runs = re.split(r"(\s+)", piece)
        pieces.append("".join(_chunks(run) if len(run) > _LONG_RUN else run for run in runs))
    return [p for piece in pieces for p in piece.split("\0")]


def _chunks(run: str) -> str:
    return "\0".join(run[i:i + _LONG_RUN] for i in range(0, len(run), _LONG_RUN))


def _escape_char(ch: str) -> str:
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    if ch.isascii():
        return " " if ch in "\t\n\r" else ch
    if ch in _UNICODE:
        return _UNICODE[ch]
    name = unicodedata.name(ch, "")
    if name.startswith("GREEK"):
        letter = name.split()[-1]
        if "SMALL" in name:
            return {"OMICRON": "o", "LAMDA": r"$\lambda$", "SIGMA": r"$\sigma$"}.get(
                letter, r"$\varsigma$" if "FINAL" in name else rf"$\{letter.lower()}$")
        if letter in _GREEK_CAPITALS:
            return rf"$\{'Lambda' if letter == 'LAMDA' else letter.capitalize()}$"
        return _latin_capital(letter)
    base, *marks = unicodedata.normalize("NFD", ch)
    if base.isascii() and marks and all(m in _ACCENTS for m in marks):
        text = r"\i" if base == "i" else r"\j" if base == "j" else base
        for mark in marks:
            text = rf"\{_ACCENTS[mark]}{{{text}}}"
        return text
    return f"[U+{ord(ch):04X}]"  # visible, never a raw byte LaTeX cannot typeset


def _latin_capital(letter: str) -> str:
    """Greek capitals LaTeX has no command for look like Latin ones (Alpha → A)."""
    return {"ALPHA": "A", "BETA": "B", "EPSILON": "E", "ZETA": "Z", "ETA": "H", "IOTA": "I", "KAPPA": "K",
            "MU": "M", "NU": "N", "OMICRON": "O", "RHO": "P", "TAU": "T", "CHI": "X"}.get(letter, "?")


def text_width(text: str, bold: bool = False) -> float:
    """Width of ``text`` in em of a 10 pt Computer Modern font (an estimate good to a few percent)."""
    em = 0.0
    for ch in text:
        code = ord(ch)
        em += _CMR10[code - 32] / 1000 if 32 <= code <= 126 else _WIDE.get(ch, 0.85)
    return em * (BOLD if bold else 1.0)


def cell_width(cell: Cell) -> float:
    return text_width(cell.text, cell.bold) + 0.45 * len(cell.marks)


@dataclass(frozen=True)
class _Fit:
    """How a table is set: its font size, the width (em) its long text cells wrap at, which columns wrap, and the
    parts its columns are split into (one part: not split)."""

    size: FontSize
    wrap_em: float
    tabcolsep: float  # pt, each side of a column (LaTeX's default: 6)
    wraps: tuple[bool, ...]
    parts: tuple[tuple[int, ...], ...]


def render(table: PaperTable, label: str) -> str:
    """The LaTeX floats of ``table`` (one, or more when it is longer than a page)."""
    fit = _fit(table)
    chunks = _row_chunks(table, fit)
    floats = []
    for i, rows in enumerate(chunks):
        first, last = i == 0, i == len(chunks) - 1
        body = [r"\begin{table}[htbp]", r"\centering"]
        if first:
            title, caption = (_sentence(_PAPER_NUMBER.sub("", text)) for text in (table.title, table.caption()))
            body += [rf"\caption[{escape(title)}]{{{escape(caption, breakable=True)}}}",
                     rf"\label{{{label}}}", r"\smallskip"]
        else:
            body += [rf"{{\small Table~\ref{{{label}}} (continued)}}\par\smallskip"]
        for j, part in enumerate(fit.parts):
            if j:
                body.append(r"\medskip")
            body += _tabular(table, part, rows, fit)
        if last and table.notes:
            notes = "\\par\n".join(escape(note, breakable=True) for note in table.notes)
            body.append(f"{{{NOTES_SIZE.command}\\raggedright\\smallskip\n{notes}\\par}}")
        body.append(r"\end{table}")
        floats.append("\n".join(body))
    return "\n\n".join(floats) + "\n"


def _fit(table: PaperTable) -> _Fit:
    """The first of CANDIDATES (font size, wrap width) that fits the text width; else the columns split into parts,
    set as SPLIT_AT."""
    everything = (tuple(range(len(table.columns))),)
    for size, wrap_em, sep in CANDIDATES:
        fit = _Fit(size, wrap_em, sep, tuple(_wraps(column, wrap_em) for column in table.columns), everything)
        if _width(table.columns, fit) <= FIT * TEXT_WIDTH:
            return fit
    size, wrap_em, sep = SPLIT_AT
    fit = _Fit(size, wrap_em, sep, tuple(_wraps(column, wrap_em) for column in table.columns), everything)
    return replace(fit, parts=_split_columns(table, fit))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _wraps(column: Column, wrap_em: float) -> bool:
    """A left-aligned column with a cell wider than ``wrap_em`` wraps its long cells."""
    return column.align == "l" and any(cell_width(c) > wrap_em for c in column.cells)


def _column_em(column: Column, wrap: bool, wrap_em: float) -> float:
    widths = [text_width(line) for line in column.header] + [cell_width(c) for c in column.cells]
    return min(max(widths), max(wrap_em, *(text_width(line) for line in column.header))) if wrap else max(widths)


def _width(columns, fit: _Fit, indices=None) -> float:
    """Points the ``columns`` (at ``indices`` of the table, default all) take when set as ``fit`` says."""
    indices = range(len(columns)) if indices is None else indices
    return sum(_column_em(c, fit.wraps[i], fit.wrap_em) * fit.size.points * fit.size.scale + 2 * fit.tabcolsep
               for c, i in zip(columns, indices))


def _split_columns(table: PaperTable, fit: _Fit) -> tuple[tuple[int, ...], ...]:
    """Parts of at most the text width, each the key columns then as many of the others as fit, in order."""
    keys = list(range(min(table.key_columns, len(table.columns))))
    key_width = _width([table.columns[k] for k in keys], fit, keys)
    parts, current, width = [], [], key_width
    for i in range(len(keys), len(table.columns)):
        extra = _width([table.columns[i]], fit, [i])
        if current and width + extra > FIT * TEXT_WIDTH:
            parts.append(tuple(keys + current))
            current, width = [], key_width
        current.append(i)
        width += extra
    return tuple(parts + [tuple(keys + current)] if current or not parts else parts)


def _lines(cell: Cell, wrap: bool, wrap_em: float) -> int:
    """Lines a cell takes; a wrapped line breaks only where it may, so it is counted 85 % full."""
    width = cell_width(cell)
    return math.ceil(width / (0.85 * wrap_em)) if wrap and width > wrap_em else 1


def _row_chunks(table: PaperTable, fit: _Fit) -> list[list[int]]:
    """Rows per float so that no float is taller than the page: caption and notes counted where they go."""
    size = fit.size
    row_height = [size.baseline * max(_lines(c.cells[r], w, fit.wrap_em) for c, w in zip(table.columns, fit.wraps))
                  for r in range(table.n_rows)]
    header = size.baseline * max((len(c.header) for c in table.columns), default=1) + 12  # + rules
    caption = 12 * math.ceil(text_width(table.caption()) * 10 / TEXT_WIDTH + 0.5) + 24
    notes = sum(NOTES_SIZE.baseline * math.ceil(text_width(n) * NOTES_SIZE.points * NOTES_SIZE.scale / TEXT_WIDTH
                                                + 0.5) for n in table.notes) + 8
    budget = TEXT_HEIGHT - caption - notes - 20  # the first and last floats may be the same
    chunks, current, height = [], [], 0.0
    parts = len(fit.parts)
    for r in range(table.n_rows):
        new_group = table.groups is not None and (r == 0 or table.groups[r] != table.groups[r - 1])
        needed = parts * (row_height[r] + (size.baseline + 4 if new_group else 0))
        if current and height + needed + parts * header > budget:
            chunks.append(current)
            current, height = [], 0.0
        current.append(r)
        height += needed
    return chunks + [current] if current or not chunks else chunks


def _tabular(table: PaperTable, part: tuple[int, ...], rows: list[int], fit: _Fit) -> list[str]:
    columns, size = [table.columns[i] for i in part], fit.size
    spec = "".join(c.align for c in columns)
    sep = "" if fit.tabcolsep == 6.0 else rf"\setlength{{\tabcolsep}}{{{fit.tabcolsep:g}pt}}"
    lines = ["{" + size.command + sep, rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    depth = max(len(c.header) for c in columns)
    for level in range(depth):
        cells = [(c.header[level - (depth - len(c.header))] if level >= depth - len(c.header) else "")
                 for c in columns]
        lines.append(" & ".join(escape(h) for h in cells) + r" \\")
    lines.append(r"\midrule")
    group = None
    for position, r in enumerate(rows):
        if table.groups is not None and table.groups[r] != group:
            group = table.groups[r]
            if position:
                lines.append(r"\addlinespace")
            lines.append(rf"\multicolumn{{{len(columns)}}}{{l}}{{\textit{{{escape(group)}}}}} \\")
        cells = [_cell(c.cells[r], fit.wraps[i], fit) for i, c in zip(part, columns)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}\par}"]
    return lines


def _cell(cell: Cell, wrap: bool, fit: _Fit) -> str:
    text = escape(cell.text, breakable=wrap)
    if cell.bold:
        text = rf"\textbf{{{text}}}"
    if cell.marks:
        text += rf"\textsuperscript{{{escape(cell.marks)}}}"
    if wrap and cell_width(cell) > fit.wrap_em:
        width = fit.wrap_em * fit.size.points * fit.size.scale
        text = rf"\parbox[t]{{{width:.1f}pt}}{{\raggedright {text}}}"
    return text
