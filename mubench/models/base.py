"""What the inference engine needs from a model, per kind."""

from __future__ import annotations

from string import ascii_uppercase
from typing import Protocol, Sequence

import numpy as np
from PIL import Image


def letters(n_options: int) -> str:
    """The option letters a generative model answers with (A, B, …): the prompt's labels and the letters its
    next-token logits are read at (``scoring: letter_logits``)."""
    if n_options > len(ascii_uppercase):
        raise ValueError(f"{n_options} options cannot be lettered A–Z")
    return ascii_uppercase[:n_options]


class ModelLoadError(RuntimeError):
    """Weights or code for a configured model cannot be loaded; the message says how to provide them."""


class ContrastiveModel(Protocol):
    """Scores an image against candidate texts by the cosine similarity of L2-normalised embeddings."""

    logit_scale: float

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...
