"""Tiny MicroVQA and MicroVQA++ releases in each release's own parquet layout (Hugging Face datasets' shards).

MicroVQA (HF jmhb/microvqa; columns its authors' eval/eval.py reads): key_question, key_image, question, choices,
correct_index (0-based), images_list (one or more images), task (1..3), task_str. MicroVQA++ (its dataset card):
image_name, image, question, choices, correct_index, correct_answer, cot, task_str, image_caption, images_source.
Images are stored as datasets' Image feature stores them: a struct of bytes and path.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
MICROVQA_SCHEMA = pa.schema([
    ("key_question", pa.int64()), ("key_image", pa.int64()), ("question", pa.string()),
    ("choices", pa.list_(pa.string())), ("correct_index", pa.int64()), ("images_list", pa.list_(IMAGE)),
    ("task", pa.int64()), ("task_str", pa.string()),
])
MICROVQAPP_SCHEMA = pa.schema([
    ("image_name", pa.string()), ("image", IMAGE), ("question", pa.string()), ("choices", pa.list_(pa.string())),
    ("correct_index", pa.int64()), ("correct_answer", pa.string()), ("cot", pa.string()), ("task_str", pa.string()),
    ("image_caption", pa.string()), ("images_source", pa.string()),
])
TASK_STR = {1: "expert_visual_understanding", 2: "hypothesis_generation", 3: "experiment_proposal"}


def image(seed: int, fmt: str = "PNG", size=(24, 20)) -> dict:
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return dict(bytes=buffer.getvalue(), path=None)


def microvqa_rows() -> list[dict]:
    """Five questions: one with three images, two sharing an image, every task, a JPEG, five or six options."""
    def row(key, images, task, correct, n=5):
        return dict(key_question=key, key_image=100 + key, question=f"Question {key}: what does the image show?",
                    choices=[f"option {key}.{i}" for i in range(n)], correct_index=correct, images_list=images,
                    task=task, task_str=TASK_STR[task])

    return [row(1, [image(1)], 1, 0), row(2, [image(2), image(3, "JPEG"), image(4)], 2, 4),
            row(3, [image(5)], 3, 2, n=6), row(4, [image(5)], 1, 1), row(5, [image(6)], 2, 3)]


def microvqapp_rows(one_based: bool = False, labels: str | None = None) -> list[dict]:
    """Four single-image questions with their answer text; options optionally labelled ("A) …" / "(1) …")."""
    rows = []
    for i, (task, correct) in enumerate([("Expert visual understanding", 0), ("Hypothesis generation", 3),
                                         ("Experiment proposal", 1), ("Hypothesis generation", 2)]):
        options = [f"finding {i}-{j}" for j in range(4)]
        shown = options
        if labels == "letters":
            shown = [f"{'ABCD'[j]}) {o}" for j, o in enumerate(options)]
        elif labels == "numbers":
            shown = [f"({j + 1}) {o}" for j, o in enumerate(options)]
        rows.append(dict(image_name=f"PMC{i}_fig1.jpg", image=image(10 + i), question=f"What explains case {i}?",
                         choices=shown, correct_index=correct + one_based, correct_answer=options[correct],
                         cot=f"Reasoning {i}.", task_str=task, image_caption=f"Caption {i}.",
                         images_source="commercial"))
    return rows


def write_release(folder: Path, rows: list[dict], schema: pa.Schema, split: str = "train", shards: int = 1,
                  under_data: bool = True) -> Path:
    """``rows`` as ``[data/]{split}-0000i-of-0000n.parquet`` (rows split evenly over the shards)."""
    target = folder / "data" if under_data else folder
    target.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(rows)), shards)):
        table = pa.Table.from_pylist([rows[j] for j in part], schema=schema)
        pq.write_table(table, target / f"{split}-{i:05d}-of-{shards:05d}.parquet")
    return folder
