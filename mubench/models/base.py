"""What the inference engine needs from a model, per kind."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
from PIL import Image


class ModelLoadError(RuntimeError):
    """Weights or code for a configured model cannot be loaded; the message says how to provide them."""


class ContrastiveModel(Protocol):
    """Scores an image against candidate texts by the cosine similarity of L2-normalised embeddings."""

    logit_scale: float

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...
