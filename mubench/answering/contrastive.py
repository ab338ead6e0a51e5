"""The paper's contrastive protocol: softmax over the similarities of an image and each option's text (DESIGN §4).

The authors' code re-encoded an image and its option captions for every question; the scores are identical
when each unique image and text is encoded once and every question is scored from the cached embeddings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from mubench.answering.embedding_cache import EmbeddingCache, encode_cached
from mubench.answering.prefetch import overlaps_compute
from mubench.benchmark.tables import load_image
from mubench.io import text_key
from mubench.models.base import ContrastiveModel


def option_texts(question: str, subset: str, options: Sequence[str], captions: Sequence[str]) -> list[str]:
    """What a contrastive model compares the image with: the caption per option, or question + option."""
    if subset == "cognition":
        return [f"{question} {option}" for option in options]
    return list(captions)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def softmax_rows(logits: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``softmax`` of each vector, bit for bit, computed for all vectors of one length at once (10⁵ questions)."""
    by_length: dict[int, list[int]] = {}
    for i, vector in enumerate(logits):
        by_length.setdefault(len(vector), []).append(i)
    out: list[np.ndarray] = [np.empty(0)] * len(logits)
    for rows in by_length.values():
        block = np.stack([logits[i] for i in rows])
        shifted = np.exp(block - block.max(axis=1, keepdims=True))
        for i, probs in zip(rows, shifted / shifted.sum(axis=1, keepdims=True)):
            out[i] = probs
    return out


def contrastive_scores(
    questions: pd.DataFrame,
    image_files: dict[str, Path],
    image_md5: dict[str, str],
    model: ContrastiveModel,
    cache_dir: str | Path,
    batch_size: int,
    on_batch: Callable[[], None] | None = None,
) -> list[np.ndarray]:
    """Softmax over the option similarities of each question (the paper's contrastive protocol)."""
    cache_dir = Path(cache_dir)
    columns = (questions[c].tolist() for c in ("question", "subset", "options", "captions"))  # not itertuples:
    texts_per_question = [option_texts(*row) for row in zip(*columns)]  # Arrow-backed strings iterate slowly
    unique_texts = list(dict.fromkeys(t for texts in texts_per_question for t in texts))
    text_by_key = {text_key(t): t for t in unique_texts}
    text_vectors = encode_cached(
        list(text_by_key), text_by_key.__getitem__, model.encode_texts,
        EmbeddingCache(cache_dir / "texts"), batch_size, "texts", on_batch,
    )
    text_row = {text: i for i, text in enumerate(text_by_key.values())}  # a key per unique text: rows in order

    image_ids = questions["image_id"].tolist()
    missing = sorted(set(image_ids) - set(image_files))
    if missing:
        raise KeyError(f"{len(missing)} questions refer to images absent from images.parquet, e.g. {missing[:3]}")
    file_by_md5 = {image_md5[i]: image_files[i] for i in dict.fromkeys(image_ids)}
    image_vectors = encode_cached(
        list(file_by_md5), lambda md5: load_image(file_by_md5[md5]), model.encode_images,
        EmbeddingCache(cache_dir / "images"), batch_size, "images", on_batch,
        background=overlaps_compute(getattr(model, "device", "cpu")),
    )
    image_row = {md5: i for i, md5 in enumerate(file_by_md5)}

    logits = [model.logit_scale * (text_vectors[[text_row[t] for t in texts]] @ image_vectors[image_row[image_md5[i]]])
              for i, texts in zip(image_ids, texts_per_question)]
    return softmax_rows(logits)
