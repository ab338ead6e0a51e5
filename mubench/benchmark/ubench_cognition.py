"""The μ-Bench cognition subset from a user-supplied folder (it is not in the public uBench release).

Folder format (``benchmark.ubench.cognition_path``; see docs/ubench.md):

- ``questions.json`` — a list of objects — or ``questions.csv`` — one row per question — with the fields
  ``image`` (image file, relative to the folder), ``question``, ``options`` (a list of strings; in CSV a JSON list
  such as ``["4", "5", "None of the above"]``), ``answer_idx`` (0-based index into ``options``) and ``subdomain``.
  Optional: ``question_id`` (default ``cognition_<row number>``), ``domain``, ``modality``, ``submodality``,
  ``stain``.
- the image files (any format Pillow reads); each is stored once as lossless PNG, keyed by its content hash.

Contrastive models score cognition as ``question + " " + option`` (DESIGN §4), so the rows carry no captions.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from mubench.benchmark.ubench_convert import png_bytes
from mubench.io import atomic_write

COGNITION_DATASET = "ubench_cognition"
REQUIRED_FIELDS = ("image", "question", "options", "answer_idx", "subdomain")
OPTIONAL_LABELS = ("domain", "modality", "submodality", "stain")


class CognitionFormatError(ValueError):
    """The cognition folder does not follow the documented format; the message names file, row and field."""


def _read_records(folder: Path) -> tuple[Path, list[dict]]:
    found = [folder / name for name in ("questions.json", "questions.csv") if (folder / name).is_file()]
    if len(found) != 1:
        raise CognitionFormatError(f"cognition folder {folder}: expected exactly one of questions.json or "
                                   f"questions.csv, found {[p.name for p in found] or 'neither'}")
    source = found[0]
    if source.suffix == ".json":
        with open(source) as fh:
            records = json.load(fh)
        if not isinstance(records, list):
            raise CognitionFormatError(f"{source}: expected a JSON list of question objects")
        return source, records
    table = pd.read_csv(source, dtype=str, keep_default_na=False)
    records = table.to_dict("records")
    for i, record in enumerate(records):
        try:
            record["options"] = json.loads(record.get("options", ""))
        except json.JSONDecodeError as err:
            raise CognitionFormatError(f"{source} row {i + 1}: options must be a JSON list of strings: {err}") from None
    return source, records


def _checked(record, source: Path, i: int) -> dict:
    where = f"{source} entry {i + 1}"
    missing = [f for f in REQUIRED_FIELDS if record.get(f) in (None, "")]
    if missing:
        raise CognitionFormatError(f"{where}: missing fields {missing}")
    options = record["options"]
    if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) for o in options):
        raise CognitionFormatError(f"{where}: options must be a list of at least two strings")
    try:
        answer_idx = int(record["answer_idx"])
    except ValueError:
        raise CognitionFormatError(f"{where}: answer_idx {record['answer_idx']!r} is not an integer") from None
    if not 0 <= answer_idx < len(options):
        raise CognitionFormatError(f"{where}: answer_idx {answer_idx} not in 0..{len(options) - 1}")
    return {**record, "answer_idx": answer_idx}


def read_cognition(folder: str | Path) -> list[tuple[dict, Path]]:
    """Every question record of the folder, checked, with its image file (which must exist); nothing is written."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CognitionFormatError(f"cognition folder {folder} does not exist")
    source, records = _read_records(folder)
    checked = []
    for i, raw in enumerate(records):
        record = _checked(raw, source, i)
        image_file = folder / record["image"]
        if not image_file.is_file():
            raise CognitionFormatError(f"{source} entry {i + 1}: image file {image_file} not found")
        checked.append((record, image_file))
    return checked


def load_cognition(folder: str | Path, out_dir: str | Path) -> tuple[list[dict], list[dict]]:
    """(image rows, question rows) of the cognition subset; images are written to ``out_dir/images``."""
    folder, out_dir = Path(folder), Path(out_dir)
    images: dict[str, dict] = {}
    questions = []
    for i, (record, image_file) in enumerate(read_cognition(folder)):
        try:
            png = png_bytes(image_file.read_bytes())
        except (OSError, ValueError) as err:
            raise CognitionFormatError(f"{folder} entry {i + 1}: image {image_file} unreadable: {err}") from err
        md5 = hashlib.md5(png).hexdigest()
        image_id = f"cognition_{md5[:16]}"
        if image_id not in images:
            atomic_write(out_dir / "images" / f"{image_id}.png", lambda tmp, png=png: Path(tmp).write_bytes(png))
            images[image_id] = dict(
                image_id=image_id, dataset=COGNITION_DATASET, label_name=None, split="test", synthetic=False,
                license=None, microns_per_pixel=None, md5=md5, path=f"images/{image_id}.png",
                subdomain=record["subdomain"], **{k: record.get(k) or None for k in OPTIONAL_LABELS})
        questions.append(dict(
            question_id=str(record.get("question_id") or f"cognition_{i + 1:04d}"), image_id=image_id,
            subset="cognition", question_type="cognition", dataset=COGNITION_DATASET,
            question=record["question"], options=list(record["options"]), answer_idx=record["answer_idx"],
            captions=[], caption_key="", caption_variants={}))
    return list(images.values()), questions
