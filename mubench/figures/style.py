"""One look for every figure: a colour per family group, paper-size fonts, and byte-stable PNG + PDF files.

Colours follow the paper's legend groups (general autoregressive, general contrastive, biomedical contrastive,
pathology contrastive; the Random baseline in grey); the hues are the colour-blind-safe Okabe–Ito palette. Figures
are drawn at the paper's text width (7 in) with fonts of 7–9 pt, so they stay readable when printed at 100 %.
"""

from __future__ import annotations

from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mubench.io import atomic_write
from mubench.models.groups import GROUPS

GROUP_COLOURS = {
    "general_autoregressive": "#D55E00",
    "general_contrastive": "#0072B2",
    "biomedical_contrastive": "#009E73",
    "pathology_contrastive": "#CC79A7",
    "baseline": "#8C8C8C",
}
# Fig. 5: the role of a model in a merged pair; the paper's published points are drawn hollow in the same colour.
ROLE_COLOURS = {"base": GROUP_COLOURS["general_contrastive"], "tuned": GROUP_COLOURS["pathology_contrastive"],
                "merged": "#E69F00"}
NEUTRAL = "#4D4D4D"
PAPER_WIDTH_IN = 7.0
DPI = 150  # the PDF is the print version; PNG for screens and the report
RC = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs (and bytes) on every machine
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "figure.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "errorbar.capsize": 2,
    "svg.hashsalt": "mubench",
    "pdf.fonttype": 42,  # TrueType: text stays text in the PDF
}
GROUP_LABELS = GROUPS


def group_colour(group: str) -> str:
    return GROUP_COLOURS.get(group, NEUTRAL)


@contextmanager
def paper_style():
    """Matplotlib settings for one figure, restored afterwards (figures never leak settings into each other)."""
    with plt.rc_context(RC):
        yield


def save_figure(fig, png, pdf) -> None:
    """PNG and PDF (each written atomically) without timestamps or version stamps: same inputs, same bytes.
    Every figure here uses constrained layout, which keeps labels and legends on the canvas; titles too long for
    their width are wrapped first (constrained layout makes room for their lines but never shortens them)."""
    try:
        fit_titles(fig)
        atomic_write(png, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None}))
        atomic_write(pdf, lambda tmp: fig.savefig(tmp, format="pdf", metadata={
            "Creator": None, "Producer": None, "CreationDate": None}))
    finally:
        plt.close(fig)


def fit_titles(fig) -> None:
    """Wrap the figure's suptitle to the figure's width and every axes title to its axes' width, at word breaks, so
    no title runs off the canvas or into its neighbour's."""
    renderer = fig.canvas.get_renderer()
    width_px = fig.get_figwidth() * fig.dpi
    titles = [(fig._suptitle, 0.96 * width_px)] if fig._suptitle is not None else []
    for ax in fig.axes:
        room = max(ax.get_position().width * width_px, 0.2 * width_px)
        titles += [(title, room) for title in (ax.title, ax._left_title, ax._right_title)]
    for title, room in titles:
        wrap_text(title, room, renderer)


def wrap_text(text, width_px: float, renderer) -> None:
    """Break a text artist's lines at spaces so each is at most ``width_px`` wide as drawn (a longer word stays)."""
    prop = text.get_fontproperties()

    def drawn_width(line: str) -> float:
        return renderer.get_text_width_height_descent(line, prop, ismath=False)[0]

    lines = []
    for paragraph in text.get_text().split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and drawn_width(candidate) > width_px:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    text.set_text("\n".join(lines))


def note_figure(png, pdf, title: str, message: str) -> None:
    """A figure that says why it has nothing to show (e.g. "no pathology questions in this benchmark")."""
    with paper_style():
        fig, ax = plt.subplots(figsize=(PAPER_WIDTH_IN, 1.6), layout="constrained")
        ax.axis("off")
        ax.text(0.5, 0.62, title, ha="center", va="center", fontsize=10, weight="bold", transform=ax.transAxes)
        ax.text(0.5, 0.3, message, ha="center", va="center", fontsize=8, wrap=True, transform=ax.transAxes)
        save_figure(fig, png, pdf)


def group_legend_handles(groups):
    """Legend patches for the groups present, in the paper's legend order."""
    from matplotlib.patches import Patch

    present = [g for g in GROUP_LABELS if g in set(groups)]
    return [Patch(color=group_colour(g), label=GROUP_LABELS[g]) for g in present]
