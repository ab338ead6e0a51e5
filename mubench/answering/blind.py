"""Blind runs: every question asked again with its image taken away, same prompt, same options.

How much of a model's score needs the image is the difference between its accuracy with and without it (scored
by mubench.scoring.vision). Two ablations:
- ``neutral_image``: each image replaced by a uniform mid-grey image of the same size (RGB 128, 128, 128). A
  constant image says nothing about stain, colour or content; keeping the size keeps every preprocessing step
  (resize, crop, tiling into image tokens) as it was, so only the pixels change. The size itself can still hint at
  the source dataset to a model whose image tokens depend on it (dynamic-resolution VLMs): stated, not hidden.
- ``no_image``: the question alone, for generative families whose prompt template works without an image
  (``Family.text_only``).

Cost: all images of one size become one image, so a contrastive model encodes one image per distinct size and
takes every text embedding from the cache its default run filled; a generative model answers each size's questions
from one shared prefix (models/prefix_reuse.py groups questions by image content). The grey images are written
once into the model's cache folder and addressed by their md5 like any benchmark image.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from mubench.io import atomic_write
from mubench.models.spec import BLIND_ABLATIONS

NEUTRAL_IMAGE, NO_IMAGE = BLIND_ABLATIONS
ABLATIONS = {
    NEUTRAL_IMAGE: "each image replaced by a uniform grey image (RGB 128) of the same size",
    NO_IMAGE: "the question asked with no image at all (generative families whose template allows it)",
}
NEUTRAL_GREY = 128


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header: no pixel is decoded."""
    with Image.open(path) as image:
        return image.size


def neutral_png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), NEUTRAL_GREY, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def neutral_images(image_files: dict[str, Path], folder: str | Path) -> tuple[dict[str, Path], dict[str, str]]:
    """image_id → the grey image of its size, and image_id → that file's md5: an image index (as
    ``Benchmark.image_index``) in which every image is neutral. One file per distinct size, under ``folder``."""
    folder = Path(folder)
    sizes = {image_id: image_size(path) for image_id, path in image_files.items()}
    files, md5 = {}, {}
    for size in sorted(set(sizes.values())):
        png = neutral_png(size)
        path = folder / f"grey{NEUTRAL_GREY}_{size[0]}x{size[1]}.png"
        if not path.exists() or path.read_bytes() != png:
            atomic_write(path, lambda tmp, png=png: Path(tmp).write_bytes(png))
        files[size], md5[size] = path, hashlib.md5(png).hexdigest()
    return ({image_id: files[size] for image_id, size in sizes.items()},
            {image_id: md5[size] for image_id, size in sizes.items()})
