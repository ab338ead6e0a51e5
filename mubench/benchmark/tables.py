"""The prepared-benchmark contract: three Parquet tables + manifest.json, identical for every source.

Every stage downstream (inference, scoring, probe, pHash, detection) reads only these tables, so a new source
only has to produce them. The schemas are explicit so a source that drifts fails here, not three rules later.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
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

# Every image file lies in this folder of the benchmark (paths in images.parquet are relative to the benchmark).
IMAGE_FOLDER = "images"

# Pillow's own limit, which refuses images above twice it (DecompressionBombError); benchmark.max_image_pixels
# replaces it (set_max_image_pixels), and the manifest records the value a benchmark was built with.
_PILLOW_MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS
_max_image_pixels: int | None = None


def set_max_image_pixels(limit: int | None) -> None:
    """Refuse images of more than ``limit`` pixels in this process (None: Pillow's own limit, about 179 million),
    wherever they are decoded: at build time and by every reader."""
    global _max_image_pixels
    _max_image_pixels = limit
    Image.MAX_IMAGE_PIXELS = limit if limit is not None else _PILLOW_MAX_IMAGE_PIXELS


def max_image_pixels() -> int | None:
    """The pixel limit set for this process (None = Pillow's own)."""
    return _max_image_pixels


def check_pixels(size: tuple[int, int], what: str = "") -> None:
    """Raise BenchmarkImageError (its message starting with ``what``) when an image of ``size`` (width, height)
    exceeds the pixel limit."""
    width, height = size
    if _max_image_pixels is not None and width * height > _max_image_pixels:
        raise BenchmarkImageError(f"{what}{': ' * bool(what)}{width}×{height} = {width * height} pixels, more than "
                                  f"benchmark.max_image_pixels ({_max_image_pixels}) allows")


def bomb_message(err: Exception, what: str = "") -> str:
    """A message for Pillow's DecompressionBombError (raised on opening an image of more than twice its limit)."""
    limit = (" (Pillow's own limit; benchmark.max_image_pixels sets another)" if _max_image_pixels is None else
             f" (Pillow's check, at twice benchmark.max_image_pixels = {_max_image_pixels})")
    return f"{what}{': ' * bool(what)}{err}{limit}"


# What str.splitlines splits at: a question or option holding one would add a line to a prompt.
LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
_OPTION_LINE = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]\s*\(?[A-Za-z0-9]{1,2}\s*[).:\]]")

# How many options each protocol (answering/prompting.py) can address: μ-Bench's letter prompt letters them A–Z;
# MicroVQA's answer regex reads one digit, 1–9 (its scorer reads "The answer is (30)" as option 3). A benchmark's
# manifest names its protocol; μ-Bench's own sources (demo, ubench) name none and are asked with the letter prompt.
LETTER_PROTOCOL = "mubench_letter"
MAX_OPTIONS = {LETTER_PROTOCOL: 26, "microvqa_cot": 9}
OPTION_NAMES = {LETTER_PROTOCOL: "letters A–Z", "microvqa_cot": "its answer regex reads a single digit, 1–9"}


class BenchmarkTableError(ValueError):
    """A prepared benchmark table violates the schema or its invariants."""


class BenchmarkImageError(BenchmarkTableError):
    """An image file of a prepared benchmark is missing or differs from what the build wrote."""


# Size and mtime of every image file as the build wrote it: the reference of the quick check (verify_images).
IMAGE_RECORD = "image_files.json"


def line_break_questions(df: pd.DataFrame, protocol: str | None) -> tuple[list[str], list[str]]:
    """(questions whose text the prompt of ``protocol`` shows on one line, the subset of them whose question holds a
    line that reads as an option, such as "B) …"): options with line breaks under every protocol, question texts
    with line breaks under the letter prompt (MicroVQA's prompt keeps a question's lines)."""
    flattened, option_like = [], []
    letter_prompt = (protocol or LETTER_PROTOCOL) == LETTER_PROTOCOL
    for row in df.itertuples():
        question_lines = letter_prompt and bool(LINE_BREAKS.intersection(row.question))
        if question_lines or any(LINE_BREAKS.intersection(option) for option in row.options):
            flattened.append(row.question_id)
            if question_lines and _OPTION_LINE.search(row.question):
                option_like.append(row.question_id)
    return flattened, option_like


def warn_line_breaks(df: pd.DataFrame, protocol: str | None, when: str) -> None:
    """Log how many questions hold line breaks that the prompt flattens (``when``: where this is logged)."""
    flattened, option_like = line_break_questions(df, protocol)
    if flattened:
        log.warning("%s: %d questions hold line breaks in their question or options (e.g. %s), %d of them a line "
                    "that reads as an option%s; the prompt shows each question and option on one line, so the "
                    "question stays answerable and the gold letter unchanged", when, len(flattened), flattened[:3],
                    len(option_like), f" (e.g. {option_like[:3]})" if option_like else "")


def _resolver(root: Path) -> Callable[[str], str]:
    """``os.path.realpath(root / path)``, with each folder resolved once: a plain file (no symlink, no ``.`` or
    ``..``) resolves to its resolved folder plus its name, so a 17k-image table costs one lstat per image."""
    folders: dict[str, str] = {}

    def resolve(path: str) -> str:
        full = os.path.join(root, path)
        parent, name = os.path.split(full)
        if name in ("", ".", "..") or os.path.islink(full):
            return os.path.realpath(full)
        if parent not in folders:
            folders[parent] = os.path.realpath(parent)
        return os.path.join(folders[parent], name)

    return resolve


def check_images(df: pd.DataFrame, root: Path) -> None:
    """Invariants of an images table in benchmark folder ``root``: unique image ids, and every path inside the
    image folder once resolved (no absolute path, no ``..``, no symlink out); the message names the row."""
    if df["image_id"].duplicated().any():
        dup = df.loc[df["image_id"].duplicated(), "image_id"].iloc[0]
        raise BenchmarkTableError(f"image_id {dup!r} occurs more than once")
    folder = os.path.realpath(root / IMAGE_FOLDER)
    inside = folder.rstrip(os.sep) + os.sep  # both paths are resolved: "inside" is a prefix test
    resolve = _resolver(root)
    for image_id, path in zip(df["image_id"].tolist(), df["path"].tolist()):
        resolved = resolve(path) if isinstance(path, str) and path else None
        if resolved is None or not resolved.startswith(inside):
            raise BenchmarkImageError(
                f"image {image_id}: path {path!r} resolves to {resolved}, outside the benchmark's image folder "
                f"{folder}; a benchmark reads only its own images (absolute paths, '..' and symlinks that leave the "
                f"folder are refused)")


def check_questions(df: pd.DataFrame, protocol: str | None = None) -> None:
    """Invariants every source must meet; the message names the first offending question. With ``protocol``,
    also that it can address every option (MAX_OPTIONS)."""
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
    limit = MAX_OPTIONS[protocol] if protocol else None
    columns = ("question_id", "subset", "options", "answer_idx", "captions", "image_id", "extra_image_ids")
    for question_id, subset, options, answer_idx, captions, image_id, extra in zip(
            *(df[c].tolist() for c in columns)):  # lists, not itertuples: Arrow-backed strings iterate slowly
        n = len(options)
        if limit is not None and n > limit:
            raise BenchmarkTableError(f"question {question_id}: {n} options, more than the {protocol} prompt can "
                                      f"address ({limit}: {OPTION_NAMES[protocol]})")
        if not 0 <= answer_idx < n:
            raise BenchmarkTableError(f"question {question_id}: answer_idx {answer_idx} not in 0..{n - 1}")
        # no caption set (empty) is allowed: generative models still answer, contrastive models skip it
        if subset != "cognition" and len(captions) not in (0, n):
            raise BenchmarkTableError(f"question {question_id}: {len(captions)} captions for {n} options")
        extra = list(extra)
        if image_id in extra or len(set(extra)) != len(extra):
            raise BenchmarkTableError(f"question {question_id}: an image is listed twice among its images")


def _with_defaults(df: pd.DataFrame) -> pd.DataFrame:
    """Optional question columns filled where a source left them out (absent, or None/NaN per row)."""
    filled = {}
    for column, make in QUESTION_DEFAULTS.items():
        values = df[column] if column in df.columns else [None] * len(df)
        filled[column] = [list(v) if isinstance(v, (list, tuple, np.ndarray)) else make() if v is None or v != v
                          else v for v in values]
    return df.assign(**filled)


def write_table(df: pd.DataFrame, name: str, path: str | Path, protocol: str | None = None) -> None:
    """Write ``df`` as table ``name`` with its exact schema (column order and types enforced); its invariants
    are checked first (questions: under ``protocol`` too; images: within the folder ``path`` lies in)."""
    schema = SCHEMAS[name]
    if name == "questions":
        df = _with_defaults(df)
    missing = [f for f in schema.names if f not in df.columns]
    if missing:
        raise BenchmarkTableError(f"{name} table lacks columns {missing}")
    if name == "questions":
        check_questions(df, protocol)
        warn_line_breaks(df, protocol, str(path))
    if name == "images":
        check_images(df, Path(path).parent)
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
    _check_read(df, name, Path(path))
    return df


def _check_read(df: pd.DataFrame, name: str, path: Path, protocol: str | None = None) -> None:
    """What ``write_table`` checks, checked again on read: a table changed after the build is refused, naming the
    row, instead of silently changing scores."""
    try:
        if name == "questions":
            check_questions(df, protocol)
        elif name == "images":
            check_images(df, path.parent)
    except BenchmarkTableError as err:
        raise type(err)(f"{path}: {err}. The table is not what the build wrote (or the build is faulty): "
                        "rebuild it (snakemake --forcerun build_benchmark)") from None


@dataclass(frozen=True)
class Benchmark:
    """A prepared benchmark folder: tables plus images addressed by ``image_id``.

    Opening one applies the pixel limit it was built with (manifest ``max_image_pixels``) to this process, so
    every reader decodes exactly what the build decoded."""

    root: Path

    def __post_init__(self) -> None:
        manifest = Path(self.root) / "manifest.json"
        if manifest.exists():
            set_max_image_pixels(json.loads(manifest.read_text()).get("max_image_pixels"))

    def _table(self, name: str) -> pd.DataFrame:
        """A table read and checked once per Benchmark object (a job reads each several times); each caller gets
        its own copy (copy-on-write: cheap until changed)."""
        tables = self.__dict__.setdefault("_tables", {})  # frozen dataclass: the instance dict is still writable
        if name not in tables:
            tables[name] = read_table(self.root / f"{name}.parquet", name)
            if name == "questions":
                self._check_protocol(tables[name])
        return tables[name].copy(deep=False)

    def _check_protocol(self, questions: pd.DataFrame) -> None:
        """Every question addressable by the benchmark's protocol (checked with the table's other invariants)."""
        protocol = self.manifest.get("protocol", LETTER_PROTOCOL) if (self.root / "manifest.json").exists() else None
        if protocol in MAX_OPTIONS and (questions["options"].map(len) > MAX_OPTIONS[protocol]).any():
            _check_read(questions, "questions", self.root / "questions.parquet", protocol)

    @property
    def images(self) -> pd.DataFrame:
        return self._table("images")

    @property
    def questions(self) -> pd.DataFrame:
        """The questions, each addressable by the benchmark's protocol (checked with the table's other invariants)."""
        return self._table("questions")

    @property
    def detection(self) -> pd.DataFrame:
        return self._table("detection")

    def image_index(self) -> tuple[dict[str, Path], dict[str, str]]:
        """image_id → file and image_id → md5 (the content key of every image cache), from one table read."""
        images = self.images
        ids = images["image_id"].tolist()
        return ({i: self.root / p for i, p in zip(ids, images["path"].tolist())},
                dict(zip(ids, images["md5"].tolist())))

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
        for path, md5 in zip(images["path"].tolist(), images["md5"].tolist()):
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
    """Open an image as RGB, with a message naming the file when it is missing, unreadable or above the pixel
    limit (Pillow's DecompressionBombError included)."""
    try:
        with Image.open(path) as im:
            check_pixels(im.size, f"benchmark image {path}")
            return im.convert("RGB")
    except FileNotFoundError:
        raise FileNotFoundError(f"benchmark image missing: {path}") from None
    except Image.DecompressionBombError as err:
        raise BenchmarkImageError(bomb_message(err, f"benchmark image {path}")) from None
    except OSError as err:
        raise OSError(f"benchmark image unreadable: {path}: {err}") from err
