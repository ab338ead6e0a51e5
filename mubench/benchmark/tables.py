"""The prepared-benchmark contract: three Parquet tables + manifest.json, identical for every source.

Every stage downstream (inference, scoring, probe, pHash, detection) reads only these tables, so a new source
only has to produce them. The schemas are explicit so a source that drifts fails here, not three rules later.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from mubench.io import atomic_write

log = logging.getLogger(__name__)

SUBSETS = ("coarse", "fine", "cognition")
COARSE_TYPES = ("modality", "submodality", "domain", "subdomain", "stain")
# Reasoning benchmarks with named tasks (MicroVQA, MicroVQA++) keep their cognition questions' task as the type, so
# per-task accuracy is the question_type level of every score table.
COGNITION_TASKS = ("expert_visual_understanding", "hypothesis_generation", "experiment_proposal")
QUESTION_TYPES = COARSE_TYPES + ("classification", "cognition") + COGNITION_TASKS
NONE_OF_THE_ABOVE = "none of the above"
# What every prediction row says about its image, so each breakdown (domain split, modality, stain…) reads one table.
IMAGE_ATTRIBUTES = ("domain", "subdomain", "modality", "submodality", "stain")

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
        # the question's further images, in the source's order, after image_id (MicroVQA: several per question)
        ("extra_image_ids", pa.list_(pa.string())),
    ]
)
# Question columns a single-image source may leave out, with the value they then take (also for tables written
# before the column existed).
QUESTION_DEFAULTS = {"extra_image_ids": list}

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


class BenchmarkImageError(BenchmarkTableError):
    """An image file of a prepared benchmark is missing or differs from what the build wrote."""


# Size and mtime of every image file as the build wrote it: the reference of the quick check (verify_images).
IMAGE_RECORD = "image_files.json"


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
    cognition_only = set(COGNITION_TASKS) | {"cognition"}
    misplaced = (df["question_type"].isin(cognition_only)) != (df["subset"] == "cognition")
    if misplaced.any():
        row = df[misplaced].iloc[0]
        raise BenchmarkTableError(f"question {row.question_id}: question_type {row.question_type!r} does not belong "
                                  f"to subset {row.subset!r}")
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
        extra = list(row.extra_image_ids)
        if row.image_id in extra or len(set(extra)) != len(extra):
            raise BenchmarkTableError(f"question {row.question_id}: an image is listed twice among its images")


def _with_defaults(df: pd.DataFrame) -> pd.DataFrame:
    """Optional question columns filled where a source left them out (absent, or None/NaN per row)."""
    filled = {}
    for column, make in QUESTION_DEFAULTS.items():
        values = df[column] if column in df.columns else [None] * len(df)
        filled[column] = [list(v) if isinstance(v, (list, tuple, np.ndarray)) else make() if v is None or v != v
                          else v for v in values]
    return df.assign(**filled)


def write_table(df: pd.DataFrame, name: str, path: str | Path) -> None:
    """Write ``df`` as table ``name`` with its exact schema (column order and types enforced)."""
    schema = SCHEMAS[name]
    if name == "questions":
        df = _with_defaults(df)
    missing = [f for f in schema.names if f not in df.columns]
    if missing:
        raise BenchmarkTableError(f"{name} table lacks columns {missing}")
    if name == "questions":
        check_questions(df)
    table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def read_table(path: str | Path, name: str) -> pd.DataFrame:
    table = pq.read_table(path)
    optional = QUESTION_DEFAULTS if name == "questions" else {}
    missing = [f for f in SCHEMAS[name].names if f not in table.column_names and f not in optional]
    if missing:
        raise BenchmarkTableError(f"{path}: {name} table lacks columns {missing}")
    df = table.to_pandas()
    if name == "questions":
        df = _with_defaults(df)
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

    @property
    def manifest(self) -> dict:
        return json.loads((self.root / "manifest.json").read_text())

    def _image_record(self) -> dict[str, list[int]]:
        """path → [bytes, mtime_ns] as built; {} when absent or unreadable (every file is then hashed)."""
        try:
            record = json.loads((self.root / IMAGE_RECORD).read_text())
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def verify_images(self, *, full: bool = False) -> None:
        """Refuse a benchmark whose image files are missing or changed since the build, naming the files.

        Caches are keyed by the md5 in images.parquet, so a damaged file would otherwise go unnoticed while the
        cache is warm. Quick (default): size and mtime against the build's record; a file whose mtime moved
        (copied, touched) is checked by md5. ``full``: md5 of every file. A benchmark built without the record
        is checked by md5 in full."""
        images = self.images
        record = self._image_record()
        if not record and not full:
            log.warning("%s has no readable %s (built by an older mubench?): checking the md5 of every image; "
                        "rebuild the benchmark to make this check quick", self.root, IMAGE_RECORD)
        problems, hashed = [], 0
        for path, md5 in zip(images["path"], images["md5"]):
            file = self.root / path
            try:
                stat = file.stat()
            except FileNotFoundError:
                problems.append(f"{file} is missing")
                continue
            size, mtime_ns = record.get(path, (None, None))
            if size is not None and stat.st_size != size:
                problems.append(f"{file} has {stat.st_size} bytes, the build wrote {size} (truncated or replaced)")
            elif full or stat.st_mtime_ns != mtime_ns:
                hashed += 1
                with open(file, "rb") as fh:
                    actual = hashlib.file_digest(fh, "md5").hexdigest()
                if actual != md5:
                    problems.append(f"{file} has md5 {actual}, images.parquet records {md5} (changed since the build)")
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise BenchmarkImageError(
                f"{len(problems)} of {len(images)} benchmark images are not what the build wrote: "
                + "; ".join(problems[:3]) + more + ". Restore them or rebuild the benchmark "
                "(snakemake --forcerun build_benchmark); caches keyed by the recorded md5 are then reused.")
        log.info("%s: %d images verified (%d by md5, the rest by size and mtime)", self.root, len(images), hashed)


def question_images(question) -> list[str]:
    """Every image of a question row, in order: ``image_id`` then ``extra_image_ids``."""
    return [question.image_id, *question.extra_image_ids]


def record_image_files(root: str | Path) -> None:
    """Write the size and mtime of every image of ``root``/images.parquet: the builders call this last."""
    root = Path(root)
    lines = []
    for path in read_table(root / "images.parquet", "images")["path"]:
        stat = (root / path).stat()
        lines.append(f"{json.dumps(path)}: [{stat.st_size}, {stat.st_mtime_ns}]")
    atomic_write(root / IMAGE_RECORD, lambda tmp: Path(tmp).write_text("{\n" + ",\n".join(lines) + "\n}\n"))


def load_image(path: str | Path) -> Image.Image:
    """Open an image as RGB, with a message naming the file when it is missing or unreadable."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"benchmark image missing: {path}") from None
    except OSError as err:
        raise OSError(f"benchmark image unreadable: {path}: {err}") from err
