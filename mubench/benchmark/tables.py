"""The prepared-benchmark contract: three Parquet tables + manifest.json, identical for every source.

Every stage downstream (inference, scoring, probe, pHash, detection) reads only these tables, so a new source
only has to produce them. The schemas are explicit so a source that drifts fails here, not three rules later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from mubench.io import atomic_write

SUBSETS = ("coarse", "fine", "cognition")
COARSE_TYPES = ("modality", "submodality", "domain", "subdomain", "stain")
QUESTION_TYPES = COARSE_TYPES + ("classification", "cognition")
NONE_OF_THE_ABOVE = "none of the above"

IMAGES_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("dataset", pa.string()),
        ("label_name", pa.string()),
        ("modality", pa.string()),
        ("submodality", pa.string()),
        ("domain", pa.string()),
        ("subdomain", pa.string()),
        ("stain", pa.string()),
        ("split", pa.string()),
        ("synthetic", pa.bool_()),
        ("license", pa.string()),
        ("microns_per_pixel", pa.float64()),
        ("md5", pa.string()),
        ("path", pa.string()),  # relative to the benchmark folder
    ]
)

QUESTIONS_SCHEMA = pa.schema(
    [
        ("question_id", pa.string()),
        ("image_id", pa.string()),
        ("subset", pa.string()),
        ("question_type", pa.string()),
        ("dataset", pa.string()),
        ("question", pa.string()),
        ("options", pa.list_(pa.string())),
        ("answer_idx", pa.int64()),
        ("captions", pa.list_(pa.string())),
        ("caption_key", pa.string()),
        ("caption_variants", pa.map_(pa.string(), pa.list_(pa.string()))),
    ]
)

DETECTION_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("dataset", pa.string()),
        ("class_name", pa.string()),
        ("boxes", pa.list_(pa.list_(pa.float64(), 4))),
        ("difficulty", pa.string()),
    ]
)

SCHEMAS = {"images": IMAGES_SCHEMA, "questions": QUESTIONS_SCHEMA, "detection": DETECTION_SCHEMA}


class BenchmarkTableError(ValueError):
    """A prepared benchmark table violates the schema or its invariants."""


def check_questions(df: pd.DataFrame) -> None:
    """Invariants every source must meet; the message names the first offending question."""
    bad_subset = ~df["subset"].isin(SUBSETS)
    if bad_subset.any():
        row = df[bad_subset].iloc[0]
        raise BenchmarkTableError(f"question {row.question_id}: unknown subset {row.subset!r}")
    bad_type = ~df["question_type"].isin(QUESTION_TYPES)
    if bad_type.any():
        row = df[bad_type].iloc[0]
        raise BenchmarkTableError(f"question {row.question_id}: unknown question_type {row.question_type!r}")
    if df["question_id"].duplicated().any():
        dup = df.loc[df["question_id"].duplicated(), "question_id"].iloc[0]
        raise BenchmarkTableError(f"question_id {dup!r} occurs more than once")
    for row in df.itertuples():
        n = len(row.options)
        if not 0 <= row.answer_idx < n:
            raise BenchmarkTableError(f"question {row.question_id}: answer_idx {row.answer_idx} not in 0..{n - 1}")
        # no caption set (empty) is allowed: generative models still answer, contrastive models skip it
        if row.subset != "cognition" and len(row.captions) not in (0, n):
            raise BenchmarkTableError(
                f"question {row.question_id}: {len(row.captions)} captions for {n} options"
            )


def write_table(df: pd.DataFrame, name: str, path: str | Path) -> None:
    """Write ``df`` as table ``name`` with its exact schema (column order and types enforced)."""
    schema = SCHEMAS[name]
    missing = [f for f in schema.names if f not in df.columns]
    if missing:
        raise BenchmarkTableError(f"{name} table lacks columns {missing}")
    if name == "questions":
        check_questions(df)
    table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def read_table(path: str | Path, name: str) -> pd.DataFrame:
    table = pq.read_table(path)
    missing = [f for f in SCHEMAS[name].names if f not in table.column_names]
    if missing:
        raise BenchmarkTableError(f"{path}: {name} table lacks columns {missing}")
    df = table.to_pandas()
    if "caption_variants" in df.columns:  # Arrow maps arrive as lists of pairs
        df["caption_variants"] = [dict(v) if v is not None else {} for v in df["caption_variants"]]
    return df


@dataclass(frozen=True)
class Benchmark:
    """A prepared benchmark folder: tables plus images addressed by ``image_id``."""

    root: Path

    @property
    def images(self) -> pd.DataFrame:
        return read_table(self.root / "images.parquet", "images")

    @property
    def questions(self) -> pd.DataFrame:
        return read_table(self.root / "questions.parquet", "questions")

    @property
    def detection(self) -> pd.DataFrame:
        return read_table(self.root / "detection.parquet", "detection")

    def image_index(self) -> tuple[dict[str, Path], dict[str, str]]:
        """image_id → file and image_id → md5 (the content key of every image cache), from one table read."""
        images = self.images
        return ({row.image_id: self.root / row.path for row in images.itertuples()},
                dict(zip(images["image_id"], images["md5"])))

    def image_paths(self) -> dict[str, Path]:
        return self.image_index()[0]


def load_image(path: str | Path) -> Image.Image:
    """Open an image as RGB, with a message naming the file when it is missing or unreadable."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"benchmark image missing: {path}") from None
    except OSError as err:
        raise OSError(f"benchmark image unreadable: {path}: {err}") from err
