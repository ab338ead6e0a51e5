"""What a drawn figure shows, read from its matplotlib artists (no pixels): where each text lands, whether it stays on
the canvas, which labels collide. Figure functions save through ``save_figure``; ``keep_figures`` keeps each figure
after it was saved, laid out as in the files."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.transforms import Bbox

from mubench.figures.style import save_figure


def keep_figures(monkeypatch, module) -> list:
    """The figures ``module`` saves from now on, each drawn once more at its final layout."""
    kept = []

    def keep(fig, png, pdf):
        save_figure(fig, png, pdf)
        FigureCanvasAgg(fig).draw()  # closing the figure took its canvas away
        kept.append(fig)

    monkeypatch.setattr(module, "save_figure", keep)
    return kept


def drawn_texts(fig) -> list:
    """Every text a reader sees: titles, axis labels, tick labels, legends and texts placed in axes or the figure."""
    texts = [fig._suptitle] + list(fig.texts)
    for legend in fig.legends:
        texts += [legend.get_title(), *legend.get_texts()]
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts,
                  *tick_labels(ax.xaxis), *tick_labels(ax.yaxis)]
        if ax.get_legend() is not None:
            texts += [ax.get_legend().get_title(), *ax.get_legend().get_texts()]
    return [t for t in texts if t is not None and t.get_visible() and t.get_text().strip()]


def tick_labels(axis) -> list:
    """The axis' tick labels that are drawn: those of ticks within the view limits."""
    low, high = sorted(axis.get_view_interval())
    slack = 1e-9 * max(abs(high - low), 1.0)
    return [tick.label1 for tick in axis.get_major_ticks()
            if low - slack <= tick.get_loc() <= high + slack and tick.label1.get_visible()]


def extent(artist) -> Bbox:
    """Display-space box of an artist's text (an annotation's arrow left out)."""
    from matplotlib.text import Text

    return Text.get_window_extent(artist, artist.figure.canvas.get_renderer())


def off_canvas(fig, tolerance: float = 1.0) -> list[str]:
    """The drawn texts that do not lie wholly inside the figure."""
    frame = fig.bbox
    return [t.get_text() for t in drawn_texts(fig) if not inside(extent(t), frame, tolerance)]


def inside(box: Bbox, frame: Bbox, tolerance: float = 1.0) -> bool:
    return (frame.x0 - tolerance <= box.x0 and box.x1 <= frame.x1 + tolerance
            and frame.y0 - tolerance <= box.y0 and box.y1 <= frame.y1 + tolerance)


def overlap(a: Bbox, b: Bbox) -> bool:
    return min(a.x1, b.x1) > max(a.x0, b.x0) and min(a.y1, b.y1) > max(a.y0, b.y0)


def colliding(texts) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap."""
    boxes = [(t.get_text(), extent(t)) for t in texts]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if overlap(box_a, box_b)]
