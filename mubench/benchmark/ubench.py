"""The ``ubench`` source: the public μ-Bench release (HF ``jnirschl/uBench``) → the benchmark tables.

The authors' evaluation code read private per-image JSON, so nothing official reads this release; this module does:
find the seven Arrow IPC stream shards at the pinned revision (ubench_acquire), prove their SHA-256, stream them one
record batch at a time (the 3.6 GB never sit in memory), convert each row (ubench_convert), store every image once
as lossless PNG on a thread pool, and count every mapping decision in manifest.json.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import pandas as pd
import pyarrow as pa
from tqdm import tqdm

import mubench
from mubench.benchmark.tables import LETTER_PROTOCOL, SCHEMAS, max_image_pixels, record_image_files, write_table
from mubench.benchmark.ubench_acquire import (
    REPO_ID,
    REVISION,
    SHARD_SHA256,
    SUBFOLDER,
    UBenchSourceError,
    locate_shards,
    verify_shards,
)
from mubench.benchmark.ubench_cognition import CognitionFormatError, load_cognition, read_cognition
from mubench.benchmark.ubench_convert import (
    Tally,
    coarse_rows,
    count_by,
    detection_rows,
    png_bytes,
    question_rows,
    resolve_dataset,
    selected_for_questions,
)
from mubench.checks import ERROR, MISSING, OK, Check
from mubench.hf_cache import cache_description, cached_snapshot
from mubench.io import atomic_write, sha256_file, write_json

TASK_LISTS = ("official", "all")
IMAGE_STORAGE = ("png",)
LABEL_COLUMNS = ("label_name", "modality", "submodality", "domain", "subdomain", "stain", "split", "license")
REQUIRED_COLUMNS = ("image_id", "image", "dataset", "microns_per_pixel", "synthetic", "questions", "captions",
                    "bbox", "polygon") + LABEL_COLUMNS
COGNITION_SKIPPED = ("skipped: the expert cognition set is not in the public uBench release; set "
                     "benchmark.ubench.cognition_path to a folder in the format of docs/ubench.md to score it")


def _file_name(image_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", image_id) + ".png"


def _stream_rows(shard: Path) -> Iterator[tuple[dict, Callable[[], bytes]]]:
    """(row without the image, a callable returning the image bytes) for every row, one record batch in memory."""
    with pa.OSFile(str(shard)) as source:
        reader = pa.ipc.open_stream(source)
        missing = [c for c in REQUIRED_COLUMNS if c not in reader.schema.names]
        if missing:
            raise UBenchSourceError(f"shard {shard.name}: columns {missing} missing; is this the uBench release?")
        other = [c for c in reader.schema.names if c != "image"]
        for batch in reader:
            column = batch.column("image")
            data = column.field("bytes") if pa.types.is_struct(column.type) else column
            for i, row in enumerate(batch.select(other).to_pylist()):
                yield row, (lambda i=i, data=data: data[i].as_py())


def _optional_float(value) -> float | None:
    return None if value in (None, "") else float(value)


def _as_bool(value) -> bool:
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)


class _PngWriter:
    """Writes PNGs on ``workers`` threads with a bounded number in flight; collects each file's md5."""

    def __init__(self, root: Path, workers: int) -> None:
        self.root, self.workers, self.md5 = root, workers, {}
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._pending: set[Future] = set()
        self._progress = tqdm(desc="uBench images → PNG", unit="img", mininterval=10)

    def _write(self, image_id: str, file_name: str, data: bytes) -> None:
        try:
            png = png_bytes(data)
        except (OSError, ValueError) as err:
            raise UBenchSourceError(f"image {image_id}: cannot be stored as PNG: {err}") from err
        atomic_write(self.root / file_name, lambda tmp: Path(tmp).write_bytes(png))
        self.md5[image_id] = hashlib.md5(png).hexdigest()

    def submit(self, image_id: str, file_name: str, data: bytes | None) -> None:
        if not data:
            raise UBenchSourceError(f"image {image_id}: the release row has no image bytes")
        if len(self._pending) >= 2 * self.workers:
            done, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
            self._finish(done)
        self._pending.add(self._pool.submit(self._write, image_id, file_name, data))

    def _finish(self, done) -> None:
        for future in done:
            future.result()  # re-raises a worker's error here
            self._progress.update()

    def __enter__(self) -> _PngWriter:
        return self

    def __exit__(self, *exc) -> None:
        try:
            if exc[0] is None:
                self._finish(wait(self._pending).done)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._progress.close()


HASH_RECORD = "ubench_shard_sha256.json"  # beside the benchmark folder: known shard hashes (build and preflight)


def _expected_hashes(revision: str, sha256: dict[str, str] | None) -> dict[str, str]:
    if sha256:
        return dict(sha256)
    if revision != REVISION:
        raise UBenchSourceError(f"benchmark.ubench.revision {revision} is not the pinned {REVISION}; give the "
                                f"SHA-256 of its shards in benchmark.ubench.sha256 (shard file name → hash)")
    return SHARD_SHA256


def _frame(rows: list[dict], name: str) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=SCHEMAS[name].names)


def build_ubench(out_dir: str | Path, *, seed: int, path: str | None = None, repo_id: str = REPO_ID,
                 revision: str = REVISION, sha256: dict[str, str] | None = None, tasks: str = "official",
                 exclude_datasets=(), images: str = "png", workers: int = 4, cognition_path: str | None = None,
                 hash_record: str | Path | None = None,
                 log: Callable[[str], None] = logging.getLogger(__name__).info) -> dict:
    """Write images/, the three tables and manifest.json for uBench into ``out_dir``; returns the manifest.

    ``sha256`` (shard file name → hash) replaces the pinned table, e.g. for another revision or a test release;
    ``hash_record`` is the sidecar of known shard hashes (default: beside ``out_dir``).
    """
    if tasks not in TASK_LISTS:
        raise ValueError(f"benchmark.ubench.tasks = {tasks!r}; expected one of {TASK_LISTS}")
    if images not in IMAGE_STORAGE:
        raise ValueError(f"benchmark.ubench.images = {images!r}; expected one of {IMAGE_STORAGE}")
    out_dir, excluded = Path(out_dir), frozenset(exclude_datasets)
    expected = _expected_hashes(revision, sha256)
    shards = locate_shards(path, sorted(expected), repo_id=repo_id, revision=revision)
    verified = verify_shards(shards, expected, hash_record or out_dir.parent / HASH_RECORD)
    log(f"uBench {repo_id}@{revision}: {len(shards)} shards verified")

    tally, source_of = Tally(), {}
    image_rows, questions, detection = [], [], []
    with _PngWriter(out_dir / "images", workers) as writer:
        for shard_name, shard in shards.items():
            for row, image in _stream_rows(shard):
                tally.add("rows_per_shard", shard_name)
                image_id = row["image_id"]
                if image_id in source_of:
                    raise UBenchSourceError(f"image_id {image_id!r} occurs in {source_of[image_id]} and again in "
                                            f"{shard_name}; the tables need unique image ids")
                source_of[image_id] = shard_name
                dataset = resolve_dataset(row, tally)
                tally.add("rows_per_dataset", str(dataset))
                if dataset is None:
                    tally.add("rows_dropped", f"dataset missing and stain {row.get('stain')!r} not mapped")
                    continue
                if dataset in excluded:
                    tally.add("rows_dropped", f"{dataset}: in exclude_datasets")
                    continue
                asked = []
                if selected_for_questions(dataset, tasks):
                    asked = question_rows(image_id, dataset, row["questions"], row["captions"], tally)
                else:
                    tally.add("rows_without_questions", f"{dataset}: outside the official task list")
                boxes = detection_rows(image_id, dataset, row["bbox"], row["polygon"], tally)
                if not asked and not boxes:
                    tally.add("rows_dropped", f"{dataset}: no question or detection task left")
                    continue
                file_name = _file_name(image_id)
                writer.submit(image_id, file_name, image())
                image_rows.append(dict(
                    image_id=image_id, dataset=dataset, **{c: row.get(c) for c in LABEL_COLUMNS},
                    synthetic=_as_bool(row.get("synthetic")),
                    microns_per_pixel=_optional_float(row.get("microns_per_pixel")), path=f"images/{file_name}"))
                questions += asked
                detection += boxes
    for image_row in image_rows:
        image_row["md5"] = writer.md5[image_row["image_id"]]
    if len({r["path"] for r in image_rows}) != len(image_rows):
        raise UBenchSourceError("two image ids map to the same PNG file name after making them path-safe")

    cognition = dict(status=COGNITION_SKIPPED)
    if cognition_path:
        cognition_images, cognition_questions = load_cognition(cognition_path, out_dir)
        image_rows += cognition_images
        questions += cognition_questions
        cognition = dict(status="loaded", path=str(cognition_path), questions=len(cognition_questions),
                         images=len(cognition_images))
    log(f"cognition subset: {cognition['status']}")

    tables = {"images": _frame(image_rows, "images"), "questions": _frame(questions, "questions"),
              "detection": _frame(detection, "detection")}
    for name, table in tables.items():
        write_table(table, name, out_dir / f"{name}.parquet", protocol=LETTER_PROTOCOL)

    decisions = tally.as_dict()
    manifest = dict(
        source="ubench", repo_id=repo_id, revision=revision, subfolder=SUBFOLDER, seed=seed,
        max_image_pixels=max_image_pixels(), mubench_version=mubench.__version__,
        parameters=dict(tasks=tasks, exclude_datasets=sorted(excluded), images=images,
                        path=str(path) if path else None, cognition_path=cognition_path),
        inputs=verified,
        rows=dict(total=sum(decisions.get("rows_per_shard", {}).values()),
                  per_shard=decisions.pop("rows_per_shard", {}), per_dataset=decisions.pop("rows_per_dataset", {})),
        decisions=decisions,
        subsets=sorted(set(tables["questions"]["subset"])),
        cognition=cognition,
        counts=dict(
            images_per_dataset=count_by(image_rows, "dataset"),
            questions=count_by(questions, "subset", "question_type"),
            questions_per_dataset=count_by(questions, "subset", "dataset"),
            coarse_rows=coarse_rows(questions),  # per kind of model and report.coarse_caption_sets
            detection=count_by(detection, "difficulty", "dataset", "class_name"),
        ),
        sha256={f"{name}.parquet": sha256_file(out_dir / f"{name}.parquet") for name in tables},
    )
    record_image_files(out_dir)
    write_json(out_dir / "manifest.json", manifest)
    log(f"uBench: {manifest['rows']['total']} release rows → {len(image_rows)} images, {len(questions)} questions, "
        f"{len(detection)} detection rows → {out_dir}")
    return manifest


def availability(source: str, options: dict, results_dir: Path) -> list[Check]:
    """Preflight hook (benchmark/sources.py): each shard found offline and of the pinned SHA-256 (recorded, so
    the build does not hash it again); the cognition folder parsed when one is configured."""
    revision = options.get("revision", REVISION)
    repo_id = options.get("repo_id", REPO_ID)
    checks = []
    try:
        expected = _expected_hashes(revision, options.get("sha256"))
    except UBenchSourceError as err:
        return [Check("uBench shards", ERROR, str(err))]
    if options.get("path"):
        roots = [Path(options["path"]).expanduser()]
        where = f"benchmark.ubench.path {roots[0]}"
    else:
        snapshot = cached_snapshot(repo_id, revision, repo_type="dataset")
        roots = [snapshot] if snapshot else []
        where = f"the HF cache {cache_description()} ({repo_id}@{revision})"
    for name, sha in sorted(expected.items()):
        item = f"uBench shard {name}"
        found = next((root / sub / name for root in roots for sub in ("", SUBFOLDER)
                      if (root / sub / name).is_file()), None)
        if found is None:
            checks.append(Check(item, MISSING, f"not in {where}",
                                f"copy {SUBFOLDER}/ of {repo_id}@{revision} there (docs/ubench.md)"))
            continue
        try:
            verify_shards({name: found}, {name: sha}, Path(results_dir) / HASH_RECORD)
            checks.append(Check(item, OK, f"{found}, SHA-256 verified"))
        except UBenchSourceError as err:
            checks.append(Check(item, ERROR, str(err), "delete the file and fetch it again"))
    if options.get("cognition_path"):
        try:
            n = len(read_cognition(options["cognition_path"]))
            checks.append(Check("cognition folder", OK, f"{options['cognition_path']}: {n} questions"))
        except CognitionFormatError as err:
            checks.append(Check("cognition folder", ERROR, str(err), "fix the folder (format: docs/ubench.md)"))
    return checks
