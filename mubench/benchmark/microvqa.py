"""The ``microvqa`` and ``microvqapp`` sources: MicroVQA (HF ``jmhb/microvqa``, arXiv 2503.13399) and MicroVQA++
(arXiv 2511.11407) → the benchmark tables, as one ``cognition`` subset whose question type is the task.

Two passes over the release. The first reads no image: every row's index field is checked against its answer
text (where the release has one) and its option list, option labels are detected and stripped, tasks are mapped,
and the release's index convention is settled (mcq_checks) — a contradiction stops the build, naming the row. The
second pass stores every image of every question once as lossless PNG (keyed by content) and writes the tables.
Every decision is counted in manifest.json, with the SHA-256 of each release shard.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import mubench
from mubench.benchmark.mcq_checks import MCQError, option_labels, release_convention, row_evidence
from mubench.benchmark.microvqa_release import (
    ReleaseError,
    check_hashes,
    iter_rows,
    locate_release,
    release_columns,
)
from mubench.benchmark.tables import (
    COGNITION_TASKS,
    LETTER_PROTOCOL,
    MAX_OPTIONS,
    OPTION_NAMES,
    SCHEMAS,
    max_image_pixels,
    record_image_files,
    write_table,
)
from mubench.benchmark.ubench_convert import ImageDataError, count_by, png_bytes
from mubench.checks import ERROR, MISSING, OK, Check
from mubench.io import atomic_write, sha256_file, write_json

log = logging.getLogger(__name__)

# Task names as the releases and papers spell them, slugged: the project page says "expert visual understanding …
# experimental proposal", the MicroVQA abstract "expert image understanding … experiment proposal".
TASK_ALIASES = {
    "expert_visual_understanding": ("expert_visual_understanding", "visual_understanding",
                                    "expert_image_understanding", "image_understanding"),
    "hypothesis_generation": ("hypothesis_generation", "hypothesis"),
    "experiment_proposal": ("experiment_proposal", "experimental_proposal", "experiment"),
}
ANSWER_TEXT_COLUMNS = ("correct_answer", "answer")  # checked against the index wherever a release has one


@dataclass(frozen=True)
class ReleaseLayout:
    """Where one release keeps each field (from its dataset card and its authors' evaluation code)."""

    source: str
    dataset: str  # the `dataset` value of every row
    repo_id: str | None  # HF dataset id when public and known
    id_column: str | None  # a per-question key; None = numbered by row
    image_column: str  # a list of images (MicroVQA) or one image (MicroVQA++)
    several_images: bool
    task_id_column: str | None  # MicroVQA's integer task, 1..3 in COGNITION_TASKS order (its scorer's task 1, 2, 3)
    task_text_column: str
    licence: str | None  # licence of the whole release, or None when a column names it per row
    licence_column: str | None
    documented_offset: int = 0  # the authors' scorer compares correct_index with the parsed number − 1

    @property
    def required(self) -> list[str]:
        """Columns the build cannot do without (a task label is optional where a task number exists)."""
        columns = [self.image_column, "question", "choices", "correct_index"]
        task = self.task_id_column or self.task_text_column
        return columns + [c for c in (self.id_column, task, self.licence_column) if c]


LAYOUTS = {
    "microvqa": ReleaseLayout(
        source="microvqa", dataset="microvqa", repo_id="jmhb/microvqa", id_column="key_question",
        image_column="images_list", several_images=True, task_id_column="task", task_text_column="task_str",
        licence="CC-BY-SA-4.0", licence_column=None),
    # The MicroVQA++ card lists image_name, image, question, choices, correct_index, correct_answer, cot, task_str,
    # image_caption, images_source (the BIOMEDICA subset, which sets each image's licence).
    "microvqapp": ReleaseLayout(
        source="microvqapp", dataset="microvqapp", repo_id=None, id_column=None, image_column="image",
        several_images=False, task_id_column=None, task_text_column="task_str", licence=None,
        licence_column="images_source"),
}


def _slug(text) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def _known_task(text, task_names: Mapping[str, str]) -> str | None:
    if str(text) in task_names:
        return task_names[str(text)]
    slug = _slug(text)
    return next((task for task, aliases in TASK_ALIASES.items() if slug in aliases), None)


class _Tasks:
    """Maps each row's task fields to a COGNITION_TASKS name, checking MicroVQA's number against its text."""

    def __init__(self, layout: ReleaseLayout, task_names: Mapping[str, str]):
        self.layout, self.task_names = layout, dict(task_names)
        bad = {k: v for k, v in self.task_names.items() if v not in COGNITION_TASKS}
        if bad:
            raise ReleaseError(f"benchmark.{layout.source}.task_names maps to unknown tasks {bad}; "
                               f"known: {list(COGNITION_TASKS)}")
        self.seen: Counter = Counter()
        self.text_of_number: dict[int, str] = {}

    def __call__(self, row: dict, where: str) -> str:
        text = row.get(self.layout.task_text_column)
        if self.layout.task_id_column is None:
            task = _known_task(text, self.task_names)
            if task is None:
                raise MCQError(f"{where}: task {text!r} is not one of {list(COGNITION_TASKS)}; map it with "
                               f"benchmark.{self.layout.source}.task_names: {{{str(text)!r}: <task>}}")
        else:
            number = row.get(self.layout.task_id_column)
            if number not in (1, 2, 3) or isinstance(number, bool):
                raise MCQError(f"{where}: {self.layout.task_id_column} = {number!r}, expected 1, 2 or 3")
            task = COGNITION_TASKS[number - 1]
            named = _known_task(text, self.task_names) if text is not None else None
            if named is not None and named != task:
                raise MCQError(f"{where}: {self.layout.task_id_column} {number} is {task} but "
                               f"{self.layout.task_text_column} says {text!r}")
            if self.text_of_number.setdefault(number, text) != text:
                raise MCQError(f"{where}: {self.layout.task_id_column} {number} is labelled {text!r} here and "
                               f"{self.text_of_number[number]!r} elsewhere")
        self.seen[f"{text} -> {task}"] += 1
        return task


def _image_bytes(value, where: str) -> bytes:
    data = value.get("bytes") if isinstance(value, Mapping) else value
    if not data:
        raise MCQError(f"{where}: an image has no bytes (images stored by path only are not supported)")
    return data


def _row_images(layout: ReleaseLayout, row: dict, where: str) -> list[bytes]:
    value = row[layout.image_column]
    images = list(value or []) if layout.several_images else ([value] if value is not None else [])
    if not images:
        raise MCQError(f"{where}: the row has no image")
    return [_image_bytes(v, where) for v in images]


def _question_id(layout: ReleaseLayout, row: dict, split: str, number: int) -> str:
    if layout.id_column:
        return f"{layout.dataset}_{row[layout.id_column]}"
    return f"{layout.dataset}_{split}_{number:06d}"


def _checked_rows(layout, shards, split, columns, answer_column, tasks, protocol) -> tuple[list[dict], dict]:
    """Pass 1 (no images): every row's options, answer and task, or an error naming the row (also one with more
    options than ``protocol`` can address). ``columns`` are the release's; the report counts, besides the index
    convention, rows whose options repeat a text."""
    wanted = [c for c in layout.required if c != layout.image_column]
    wanted += [c for c in (answer_column, layout.task_text_column) if c in columns and c not in wanted]
    rows, evidence, labels, seen_ids, repeated = [], [], Counter(), {}, []
    for shard, number, row in iter_rows(shards, wanted):
        question_id = _question_id(layout, row, split, number)
        where = f"{layout.source} {split} row {number} ({shard}, question {question_id})"
        if question_id in seen_ids:
            raise MCQError(f"{where}: question id also used by row {seen_ids[question_id]}")
        seen_ids[question_id] = number
        choices, question = row["choices"], row["question"]
        if not isinstance(question, str) or not question.strip():
            raise MCQError(f"{where}: the question text is empty")
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            raise MCQError(f"{where}: choices must be a list of at least two strings, got {choices!r}")
        if len(choices) > MAX_OPTIONS[protocol]:
            raise MCQError(f"{where}: {len(choices)} options, more than the {protocol} protocol can address "
                           f"({MAX_OPTIONS[protocol]}: {OPTION_NAMES[protocol]}); leave the row out of the release"
                           + (", or set protocol: mubench_letter" if len(choices) <= MAX_OPTIONS[LETTER_PROTOCOL]
                              else ""))
        style, options = option_labels(choices)
        labels[style or "none"] += 1
        if len(set(options)) != len(options):  # not a contradiction, but a model cannot tell those options apart
            repeated.append(question_id)
        evidence.append(row_evidence(where, row["correct_index"], options,
                                     row.get(answer_column) if answer_column else None))
        rows.append(dict(question_id=question_id, question=question, options=options,
                         index=int(row["correct_index"]), task=tasks(row, where), where=where))
    report = release_convention(evidence, layout.documented_offset, labels)
    for row in rows:
        row["answer_idx"] = row.pop("index") - report.offset
    if repeated:
        log.warning("%d questions repeat an option text, e.g. %s", len(repeated), repeated[:3])
    return rows, dict(report.as_dict(), questions_with_repeated_options=repeated)


def _store_png(file: Path, data: bytes, where: str) -> str:
    """Store the image as lossless PNG, decoded in full first; returns the PNG's md5 (the content key of every
    image cache). An image that cannot be decoded, or exceeds the pixel limit, stops the build naming ``where``."""
    try:
        png = png_bytes(data)
    except ImageDataError as err:
        raise MCQError(f"{where}: {err}") from None
    atomic_write(file, lambda tmp: Path(tmp).write_bytes(png))
    return hashlib.md5(png).hexdigest()


def _write_images(layout, shards, split, checked, out_dir, workers) -> tuple[list[dict], list[list[str]]]:
    """Pass 2: every image stored once (id = content hash of the release's bytes); image rows and each question's
    image ids in release order. PNGs are encoded on ``workers`` threads, a bounded number in flight."""
    columns = [layout.image_column] + ([layout.licence_column] if layout.licence_column else [])
    images: dict[str, dict] = {}
    per_question: list[list[str]] = []
    pending: dict[Future, str] = {}

    def finish(done) -> None:
        if any(future.exception() is not None for future in done):  # name the first bad image in release order
            wait(pending)
            next(future for future in pending if future.exception() is not None).result()
        for future in done:
            images[pending.pop(future)]["md5"] = future.result()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for (_shard, _number, row), question in zip(iter_rows(shards, columns, batch_size=8), checked):
            ids = []
            for number, data in enumerate(_row_images(layout, row, question["where"]), start=1):
                image_id = f"{layout.dataset}_{hashlib.md5(data).hexdigest()[:16]}"
                ids.append(image_id)
                if image_id in images:
                    continue
                images[image_id] = dict(
                    image_id=image_id, dataset=layout.dataset, label_name=None, modality=None, submodality=None,
                    domain=None, subdomain=None, stain=None, split=split, synthetic=False,
                    license=row.get(layout.licence_column) if layout.licence_column else layout.licence,
                    microns_per_pixel=None, md5=None, path=f"images/{image_id}.png")
                where = f"{question['where']}, image {number} of {layout.image_column}"
                pending[pool.submit(_store_png, out_dir / images[image_id]["path"], data, where)] = image_id
                if len(pending) >= 2 * workers:
                    finish(wait(pending, return_when=FIRST_COMPLETED).done)
            if len(set(ids)) != len(ids):
                raise MCQError(f"{question['where']}: the same image is listed twice")
            per_question.append(ids)
        finish(wait(pending).done)
    return list(images.values()), per_question


def hash_record_name(source: str) -> str:
    """The file beside the benchmark folder recording the release's shard hashes (build and preflight)."""
    return f"{source}_shard_sha256.json"


def build_microvqa_source(source: str, out_dir: str | Path, *, seed: int, path: str | None = None,
                          repo_id: str | None = None, revision: str | None = None, split: str | None = None,
                          sha256: Mapping[str, str] | None = None, task_names: Mapping[str, str] | None = None,
                          protocol: str = "microvqa_cot", workers: int = 4, hash_record: str | Path | None = None,
                          log: Callable[[str], None] = log.info) -> dict:
    """Write images/, the three tables and manifest.json for MicroVQA (``source="microvqa"``) or MicroVQA++."""
    layout = LAYOUTS[source]
    out_dir = Path(out_dir)
    repo_id = repo_id or layout.repo_id
    split, shards, where = locate_release(source, path, repo_id, revision, split)
    hashes = check_hashes(source, shards, sha256, Path(hash_record or out_dir.parent / hash_record_name(source)))
    columns = release_columns(shards)
    missing = [c for c in layout.required if c not in columns]
    if missing:
        raise ReleaseError(f"{where}: columns {missing} missing (found {columns}); is this the {source} release?")
    answer_column = next((c for c in ANSWER_TEXT_COLUMNS if c in columns), None)
    log(f"{source}: {len(shards)} {split} shards from {where}; answer text column: {answer_column}")

    tasks = _Tasks(layout, task_names or {})
    if protocol not in MAX_OPTIONS:
        raise ReleaseError(f"benchmark.{source}.protocol {protocol!r} is not one of {sorted(MAX_OPTIONS)}")
    checked, convention = _checked_rows(layout, shards, split, columns, answer_column, tasks, protocol)
    log(f"{source}: {len(checked)} rows checked; index convention {convention['convention']} "
        f"({convention['basis']}); option labels {convention['option_labels']}")
    image_rows, per_question = _write_images(layout, shards, split, checked, out_dir, workers)

    questions = [dict(question_id=q["question_id"], image_id=ids[0], extra_image_ids=ids[1:], subset="cognition",
                      question_type=q["task"], dataset=layout.dataset, question=q["question"], options=q["options"],
                      answer_idx=q["answer_idx"], captions=[], caption_key="", caption_variants={})
                 for q, ids in zip(checked, per_question)]
    tables = {"images": pd.DataFrame(image_rows, columns=SCHEMAS["images"].names),
              "questions": pd.DataFrame(questions, columns=SCHEMAS["questions"].names),
              "detection": pd.DataFrame(columns=SCHEMAS["detection"].names)}
    for name, table in tables.items():
        write_table(table, name, out_dir / f"{name}.parquet", protocol=protocol)

    n_images = Counter(len(ids) for ids in per_question)
    manifest = dict(
        source=source, repo_id=repo_id, revision=revision or "local copy, revision not stated", split=split, seed=seed,
        protocol=protocol, max_image_pixels=max_image_pixels(), mubench_version=mubench.__version__,
        parameters=dict(path=str(path) if path else None, split=split, task_names=dict(task_names or {}),
                        protocol=protocol),
        inputs=hashes, inputs_verified=bool(sha256),
        release=dict(where=where, columns=columns, answer_text_column=answer_column, **convention,
                     tasks=dict(sorted(tasks.seen.items()))),
        subsets=["cognition"],
        multi_image_questions=sum(n for k, n in n_images.items() if k > 1),
        counts=dict(images=len(image_rows), images_per_question=dict(sorted((str(k), n) for k, n in n_images.items())),
                    questions=count_by(questions, "subset", "question_type"),
                    questions_per_dataset=count_by(questions, "subset", "dataset")),
        sha256={f"{name}.parquet": sha256_file(out_dir / f"{name}.parquet") for name in tables},
    )
    record_image_files(out_dir)
    write_json(out_dir / "manifest.json", manifest)
    if not sha256:
        listed = ", ".join(f"{name} {found['sha256']}" for name, found in hashes.items())
        log(f"{source}: shard hashes recorded in the manifest but not checked (set benchmark.{source}.sha256 to pin "
            f"them): {listed}")
    log(f"{source}: {len(questions)} questions ({manifest['multi_image_questions']} with several images), "
        f"{len(image_rows)} images → {out_dir}")
    return manifest


def build_microvqa(out_dir, **options) -> dict:
    return build_microvqa_source("microvqa", out_dir, **options)


def build_microvqapp(out_dir, **options) -> dict:
    return build_microvqa_source("microvqapp", out_dir, **options)


def availability(source: str, options: dict, results_dir: Path) -> list[Check]:
    """Preflight hook (benchmark/sources.py): the release's shards found (never downloaded), complete, and of
    the configured SHA-256."""
    item = f"{source} shards"
    try:
        split, shards, where = locate_release(source, options.get("path"), options.get("repo_id")
                                              or LAYOUTS[source].repo_id, options.get("revision"),
                                              options.get("split"), download=False)
    except ReleaseError as err:
        return [Check(item, MISSING, str(err), "see docs/microvqa.md")]
    try:
        check_hashes(source, shards, options.get("sha256"), Path(results_dir) / hash_record_name(source))
    except ReleaseError as err:
        return [Check(item, ERROR, str(err), "delete the shard and fetch it again")]
    pinned = "SHA-256 verified" if options.get("sha256") else f"SHA-256 not pinned (benchmark.{source}.sha256)"
    return [Check(item, OK, f"{len(shards)} {split} shards at {where}; {pinned}")]
