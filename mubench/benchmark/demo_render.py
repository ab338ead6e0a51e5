"""Procedural images for modalities no package ships: fluorescent cells of known eccentricity, EM-like organelles.

Each renderer draws the structure its label names, so the label is true of the pixels by construction (and the
eccentricity class is re-measured on the drawn mask before an image is accepted).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import gaussian
from skimage.measure import regionprops

ECCENTRICITY_BOUNDS = (0.5, 0.82)  # low < 0.5 <= medium < 0.82 <= high, measured on the rendered mask
ECCENTRICITY_RENDER = {"low": (0.0, 0.3), "medium": (0.62, 0.72), "high": (0.9, 0.95)}  # well inside each class
EM_CLASSES = ("a nucleus", "mitochondria", "vesicles")


def smooth_noise(rng, size: int, sigma: float) -> np.ndarray:
    field = gaussian(rng.standard_normal((size, size)), sigma=sigma)
    return field / field.std()


def ellipse(size: int, cy: float, cx: float, a: float, b: float, angle: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def eccentricity_class(eccentricity: float) -> str:
    low, high = ECCENTRICITY_BOUNDS
    return "low" if eccentricity < low else "medium" if eccentricity < high else "high"


def render_cell(rng, size: int, target: str) -> tuple[np.ndarray, np.ndarray]:
    """A fluorescent cell (textured cytoplasm, bright nucleus) whose drawn shape has the target eccentricity."""
    for _ in range(100):
        e = rng.uniform(*ECCENTRICITY_RENDER[target])
        a = size * rng.uniform(0.22, 0.32)
        b = a * np.sqrt(1 - e**2)
        slack = size / 2 - a - 2
        cy, cx = size / 2 + rng.uniform(-slack, slack, 2) / 2
        angle = rng.uniform(0, np.pi)
        cell = ellipse(size, cy, cx, a, b, angle)
        if eccentricity_class(regionprops(cell.astype(np.uint8))[0].eccentricity) == target:
            break
    else:
        raise RuntimeError(f"could not render a cell of {target} eccentricity at {size} px")
    nucleus = ellipse(size, cy, cx, 0.6 * b, 0.6 * b, 0)
    signal = 0.05 + cell * (0.42 + 0.06 * smooth_noise(rng, size, 2)) + nucleus * 0.3
    signal = gaussian(signal, sigma=0.8) + 0.02 * rng.standard_normal((size, size))
    return (np.clip(signal, 0, 1) * 255).astype(np.uint8), cell


def _scatter(rng, size: int, count: int, draw: Callable[[], tuple[np.ndarray, float]],
             tries: int = 200) -> list[tuple[np.ndarray, float]]:
    """Up to ``count`` (mask, angle) objects from ``draw``, inside the image and clear of each other (at least 2)."""
    inner = ndi.binary_erosion(np.ones((size, size), bool), iterations=2)
    occupied = np.zeros((size, size), bool)
    shapes = []
    for _ in range(tries):
        if len(shapes) == count:
            break
        shape, angle = draw()
        if shape.any() and not (shape & ~inner).any() and not (shape & occupied).any():
            shapes.append((shape, angle))
            occupied |= ndi.binary_dilation(shape, iterations=3)
    if len(shapes) < 2:
        raise RuntimeError(f"could not place two organelles in a {size} px image")
    return shapes


def render_em(rng, size: int, structure: str) -> np.ndarray:
    """EM-like grayscale: light cytoplasm, faint membranes, and dark organelles of the named kind."""
    image = 0.68 + 0.015 * smooth_noise(rng, size, size / 16)
    xs = np.arange(size)
    for _ in range(2):  # faint, thin membranes: present, but never dark enough to pass as an organelle
        ys = (rng.uniform(0, size) + rng.uniform(2, size / 8) * np.sin(xs * rng.uniform(0.02, 0.08) +
                                                                       rng.uniform(0, 6))).astype(int)
        keep = (ys >= 0) & (ys < size)
        image[ys[keep], xs[keep]] -= 0.06
    if structure == "a nucleus":
        r = size * rng.uniform(0.28, 0.34)
        nucleus = ellipse(size, *(size / 2 + rng.uniform(-3, 3, 2)), r, r * rng.uniform(0.85, 1), rng.uniform(0, 3))
        envelope = nucleus & ~ndi.binary_erosion(nucleus, iterations=max(2, size // 40))
        heterochromatin = nucleus & (smooth_noise(rng, size, 3) > 1.0)
        image[nucleus] = 0.42
        image[heterochromatin] = 0.3
        image[envelope] = 0.18
    elif structure == "mitochondria":  # elongated and dark, light cristae across the long axis
        def mitochondrion():
            a, angle = size * rng.uniform(0.12, 0.17), rng.uniform(0, np.pi)
            return ellipse(size, *rng.uniform(0, size, 2), a, a * rng.uniform(0.3, 0.42), angle), angle

        yy, xx = np.mgrid[:size, :size]
        for mito, angle in _scatter(rng, size, int(rng.integers(2, 5)), mitochondrion):
            image[mito] = 0.3
            image[mito & (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2.2) > 0.6)] = 0.45
            image[mito & ~ndi.binary_erosion(mito)] = 0.18
    else:  # small round vesicles: dark membrane, light lumen
        def vesicle():
            r = max(2.0, size * rng.uniform(0.03, 0.045))
            return ellipse(size, *rng.uniform(0, size, 2), r, r, 0), 0.0

        for ves, _ in _scatter(rng, size, int(rng.integers(8, 15)), vesicle):
            image[ves] = 0.6
            image[ves & ~ndi.binary_erosion(ves)] = 0.22
    image = gaussian(image, sigma=0.6) + 0.03 * rng.standard_normal((size, size))
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)
