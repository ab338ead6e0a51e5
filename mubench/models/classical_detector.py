"""A classical (non-VLM) object detector: global threshold + connected components, with scikit-image.

It needs no weights and no network, so anyone can localize the benchmark's objects offline; its GRIT score in
Table 18 is the floor a vision-language model should clear. It ignores the class name it is asked for: every
foreground component of the image is an object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage import filters
from skimage.color import rgb2gray
from skimage.feature import peak_local_max
from skimage.measure import label, regionprops
from skimage.segmentation import watershed

THRESHOLDS = {
    "otsu": filters.threshold_otsu,
    "li": filters.threshold_li,
    "yen": filters.threshold_yen,
    "triangle": filters.threshold_triangle,
    "mean": filters.threshold_mean,
    "isodata": filters.threshold_isodata,
}


@dataclass(frozen=True)
class Detection:
    boxes: list[list[float]]  # [x1, y1, x2, y2] pixel edges (x2, y2 exclusive), like the benchmark's boxes
    summary: str  # what the detector did, stored as the row's "response"


class ThresholdDetector:
    """Boxes of the foreground components of a grayscale version of the image (settings: ModelSpec.thresholding)."""

    def __init__(self, spec, device: str = "cpu"):
        settings = spec.thresholding
        if settings.method not in THRESHOLDS:
            raise ValueError(f"model {spec.name!r}: thresholding.method {settings.method!r} is not one of "
                             f"{', '.join(THRESHOLDS)}")
        self.settings = settings

    def detect(self, images: Sequence[Image.Image]) -> list[Detection]:
        return [self.detect_one(np.asarray(image)) for image in images]

    def detect_one(self, pixels: np.ndarray) -> Detection:
        s = self.settings
        gray = rgb2gray(pixels[..., :3]) if pixels.ndim == 3 else pixels.astype(np.float64)
        if s.sigma > 0:
            gray = filters.gaussian(gray, sigma=s.sigma, preserve_range=True)
        if s.invert:
            gray = gray.max() - gray
        if np.ptp(gray) == 0:
            return Detection([], "constant image: no foreground")
        threshold = float(THRESHOLDS[s.method](gray))
        foreground = ndi.binary_fill_holes(gray > threshold)
        components = label(foreground)
        if s.split_min_distance is not None:
            components = _split_touching(foreground, components, s.split_min_distance)
        regions = regionprops(components)
        kept = [r.bbox for r in regions if r.area >= s.min_area]
        boxes = [[float(c1), float(r1), float(c2), float(r2)] for r1, c1, r2, c2 in kept]
        return Detection(boxes, f"{s.method} threshold {threshold:.4g}: {len(regions)} components, "
                                f"{len(kept)} of at least {s.min_area} px")


def _split_touching(foreground: np.ndarray, components: np.ndarray, min_distance: int) -> np.ndarray:
    """Watershed of the distance transform from its local maxima: touching round objects become one each."""
    distance = ndi.distance_transform_edt(foreground)
    peaks = peak_local_max(distance, min_distance=min_distance, labels=components, exclude_border=False)
    markers = np.zeros(components.shape, dtype=np.int64)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    split = watershed(-distance, markers, mask=foreground)
    unsplit = foreground & (split == 0)  # a component without a peak stays whole
    split[unsplit] = components[unsplit] + len(peaks)
    return split
