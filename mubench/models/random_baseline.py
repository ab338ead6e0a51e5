"""The paper's Random row: a uniform choice among a question's options.

Each question gets its own generator seeded by (seed, question_id), so the choice does not depend on batch
order, on which other questions exist, or on how often the job was resumed.
"""

from __future__ import annotations

import hashlib

import numpy as np


def question_rng(seed: int, question_id: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}\x00{question_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def random_scores(seed: int, question_id: str, n_options: int) -> np.ndarray:
    """Uniform scores whose argmax is a uniform random option."""
    return question_rng(seed, question_id).random(n_options)
