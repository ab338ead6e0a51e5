"""Point labels placed without overlap: each label takes the first spot around its point, nearest first, where it
stays inside the axes and clear of every label and marker placed before it; a label pushed away from its point gets
a thin leader line back to it.

Placement works in display coordinates, so the figure's layout must be final first (``fig.canvas.draw()`` after
titles and legends are set); the labels are kept out of the layout so placing them never moves the axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.text import Text
from matplotlib.transforms import Bbox

# Offsets tried around a point (points), nearest ring first; within a ring: diagonals, then sides, then above/below.
_DIRECTIONS = [(1, 1), (-1, 1), (1, -1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]
_RINGS = (4, 10, 17, 26, 38, 52)
_LEADER_FROM = 10  # labels at least this far from their point get a leader line


@dataclass(frozen=True)
class PointLabel:
    x: float  # data coordinates of the point
    y: float
    text: str
    colour: str


def place_labels(ax, labels: Sequence[PointLabel], fontsize: float = 6, marker_pt: float = 3.0) -> list:
    """Annotate ``labels`` on ``ax`` without overlaps (see module docstring); returns the annotations in order."""
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    half = marker_pt * ax.figure.dpi / 72
    markers = [_box_around(ax.transData.transform((p.x, p.y)), half) for p in labels]
    taken: list[Bbox] = []
    placed = []
    for label in labels:
        spots = [(text_box(ax, label, dx, dy, fontsize, renderer), (dx, dy)) for dx, dy in _candidates()]
        box, (dx, dy) = min(spots, key=lambda spot: _cost(spot[0], taken + markers, frame))  # first of the cheapest
        placed.append(_annotate(ax, label, dx, dy, fontsize, leader=max(abs(dx), abs(dy)) >= _LEADER_FROM))
        taken.append(box.padded(half / 2))
    return placed


def text_box(ax, label: PointLabel, dx: float, dy: float, fontsize: float, renderer) -> Bbox:
    """Where the label's text lands (display coordinates) at offset (dx, dy) points."""
    note = _annotate(ax, label, dx, dy, fontsize)
    note.update_positions(renderer)  # an annotation finds its text's place only when asked (or drawn)
    box = Text.get_window_extent(note, renderer)
    note.remove()
    return box


def _candidates():
    """Offsets nearest first, so the nearest spot without any cost wins."""
    return [(dx * ring, dy * ring) for ring in _RINGS for dx, dy in _DIRECTIONS]


def _cost(box: Bbox, others: Sequence[Bbox], frame: Bbox) -> float:
    return _overlap(box, others) + _outside(box, frame)


def _annotate(ax, label: PointLabel, dx: float, dy: float, fontsize: float, leader: bool = False):
    ha = "left" if dx > 0 else "right" if dx < 0 else "center"
    va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
    arrow = {"arrowstyle": "-", "color": label.colour, "lw": 0.4, "shrinkA": 0, "shrinkB": 2} if leader else None
    note = ax.annotate(label.text, (label.x, label.y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                       fontsize=fontsize, color=label.colour, annotation_clip=False, arrowprops=arrow, zorder=4)
    note.set_in_layout(False)
    return note


def _box_around(centre, half: float) -> Bbox:
    x, y = centre
    return Bbox([[x - half, y - half], [x + half, y + half]])


def _overlap(box: Bbox, others: Sequence[Bbox]) -> float:
    total = 0.0
    for other in others:
        width = min(box.x1, other.x1) - max(box.x0, other.x0)
        height = min(box.y1, other.y1) - max(box.y0, other.y0)
        if width > 0 and height > 0:
            total += width * height
    return total


def _outside(box: Bbox, frame: Bbox) -> float:
    """Area of ``box`` outside ``frame``, weighted heavily: a label must stay inside the axes first of all."""
    inside_w = max(0.0, min(box.x1, frame.x1) - max(box.x0, frame.x0))
    inside_h = max(0.0, min(box.y1, frame.y1) - max(box.y0, frame.y0))
    return 100.0 * (box.width * box.height - inside_w * inside_h)
