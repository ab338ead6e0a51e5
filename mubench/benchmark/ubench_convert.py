"""One uBench release row → rows of the benchmark tables, with every mapping decision counted.

The release (jnirschl/uBench, perception/0.1.0) stores per image a ``questions`` struct keyed by question type, a
``captions`` struct keyed by caption set (``modality``, ``modality_1``, ``classification_0``, ...) and object
outlines in ``bbox`` / ``polygon``. Options and ``answer_idx`` are kept exactly as released (never resampled).
Nested values are accepted in both Arrow shapes the ``datasets`` library may have written: a struct (→ dict) or a
map (→ list of (key, value) pairs); a list of objects or a struct of parallel lists (``Sequence(dict)``).
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from PIL import Image

from mubench.benchmark.tables import COARSE_TYPES, BenchmarkImageError, bomb_message, check_pixels

log = logging.getLogger(__name__)

FINE_TYPE = "classification"
RELEASE_QUESTION_TYPES = COARSE_TYPES + (FINE_TYPE,)

# The paper's fine-grained task list (DESIGN §2); held_et_al_2010_mt is listed there but absent from the release.
OFFICIAL_DATASETS = frozenset({
    "acevedo_et_al_2020", "burgess_et_al_2024_contour", "burgess_et_al_2024_eccentricity",
    "burgess_et_al_2024_texture", "empiar_sbfsem", "colocalization_benchmark", "eulenberg_et_al_2017_brightfield",
    "eulenberg_et_al_2017_darkfield", "eulenberg_et_al_2017_epifluorescence", "held_et_al_2010_galt",
    "held_et_al_2010_h2b", "held_et_al_2010_mt", "hussain_et_al_2019", "icpr2020_pollen", "jung_et_al_2022",
    "kather_et_al_2016", "kather_et_al_2018", "kather_et_al_2018_val7k", "nirschl_et_al_2018",
    "nirschl_unpub_fluorescence", "tang_et_al_2019", "wong_et_al_2022", "wu_et_al_2023",
})

# Held et al. rows carry dataset = None; their fluorescent marker (the stain) names the sub-dataset.
HELD_BY_STAIN = {"h2b-mcherry": "held_et_al_2010_h2b", "galt-egfp": "held_et_al_2010_galt"}

# Appendix Table 18: which (dataset, object class) pairs are localization tasks, and how hard.
_BURGESS = ("burgess_et_al_2024_contour", "burgess_et_al_2024_eccentricity", "burgess_et_al_2024_texture")
_HELD = ("held_et_al_2010_galt", "held_et_al_2010_h2b", "held_et_al_2010_mt")
DETECTION_DIFFICULTY = {
    **{(d, "cell"): "easy" for d in _BURGESS},
    **{(d, "nucleus"): "easy" for d in _HELD},
    **{(d, "nucleus"): "hard" for d in _BURGESS},
    ("opencell", "nucleus"): "hard",
    ("wu_et_al_2023", "mitochondria"): "hard",
    ("sirinukunwattana_et_al_2016", "gland"): "hard",
}
_CLASS_SYNONYMS = {"nuclei": "nucleus", "cells": "cell", "glands": "gland", "mitochondrion": "mitochondria"}
# Held et al. nucleus outlines may be named after the chromatin marker that labels the nucleus (H2B-mCherry), in
# any case and with a dash, space or underscore, with or without the fluorophore.
HELD_NUCLEUS_MARKERS = frozenset({"h2b-mcherry", "h2b"})

# Default caption set per question type: the type's own key, and classification_1 for fine questions (the caption
# set the authors' totals used); other sets of the same type become caption_variants.
DEFAULT_CAPTION_KEY = {**{t: t for t in COARSE_TYPES}, FINE_TYPE: "classification_1"}


class Tally:
    """Counters for manifest.json: ``tally.add("section", "key")`` → {"section": {"key": n}}."""

    def __init__(self) -> None:
        self._counts: dict[str, Counter] = defaultdict(Counter)

    def add(self, section: str, key: str, n: int = 1) -> None:
        self._counts[section][key] += n

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {section: dict(sorted(counter.items())) for section, counter in sorted(self._counts.items())}


def as_mapping(value) -> dict:
    """A struct (dict), a map (list of pairs) or null, as a dict."""
    return {} if value is None else dict(value)  # dict() takes both a dict and a list of pairs


class UnevenListsError(ValueError):
    """A struct of parallel lists whose lists differ in length: which entries belong together is unknown."""


def as_records(value) -> list[dict]:
    """A list of objects, or a struct of parallel lists (``datasets`` Sequence(dict)), as a list of dicts.

    Raises UnevenListsError, naming each list's length, when parallel lists differ in length."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        columns = {k: list(v or []) for k, v in value.items()}
        lengths = {k: len(v) for k, v in columns.items()}
        if len(set(lengths.values())) > 1:
            raise UnevenListsError("parallel lists of unequal length: "
                                   + ", ".join(f"{k} {n}" for k, n in lengths.items()))
        n = next(iter(lengths.values()), 0)
        return [{k: v[i] for k, v in columns.items()} for i in range(n)]
    return [dict(item) for item in value if item is not None]


def _dash_key(text: str | None) -> str:
    return re.sub(r"[\u2010-\u2015\u2212]", "-", text or "").strip().lower()


def resolve_dataset(row: Mapping, tally: Tally) -> str | None:
    """The row's dataset; Held et al. rows (dataset None) by their stain; None when it cannot be told."""
    if row.get("dataset"):
        return row["dataset"]
    mapped = HELD_BY_STAIN.get(_dash_key(row.get("stain")))
    tally.add("dataset_from_stain", f"{row.get('stain')} -> {mapped}")
    return mapped


def _caption_options(entry) -> tuple[list[str] | None, str | None]:
    """(caption sentences, caption answer) of one caption set: an object with options/answer, or a bare list."""
    if entry is None:
        return None, None
    if isinstance(entry, Mapping):
        options = entry.get("options")
        return (list(options) if options else None), entry.get("answer")
    return list(entry) or None, None


def _caption_type(key: str) -> str:
    return key if key in RELEASE_QUESTION_TYPES else re.sub(r"_\d+$", "", key)


def _caption_sets(question_type: str, captions: dict, n_options: int, answer_idx: int, dataset: str,
                  tally: Tally) -> dict[str, list[str]]:
    """Usable caption sets of one question type (key → sentences, one per option)."""
    usable = {}
    for key in sorted(k for k in captions if _caption_type(k) == question_type):
        sentences, answer = _caption_options(captions[key])
        if sentences is None:
            continue
        if len(sentences) != n_options:
            tally.add("caption_sets_skipped", f"{key}: {len(sentences)} captions for {n_options} options")
            continue
        if answer is not None and answer in sentences and sentences.index(answer) != answer_idx:
            tally.add("caption_answer_position_differs", f"{dataset}/{key}")
        usable[key] = sentences
    return usable


def question_rows(image_id: str, dataset: str, questions, captions, tally: Tally) -> list[dict]:
    """The coarse and fine rows of one image, in RELEASE_QUESTION_TYPES order."""
    questions, captions = as_mapping(questions), as_mapping(captions)
    for key in sorted(set(questions) - set(RELEASE_QUESTION_TYPES)):
        tally.add("questions_unknown_type", key)
    rows = []
    for question_type in RELEASE_QUESTION_TYPES:
        entry = questions.get(question_type)
        if entry is None or not entry.get("question") or not entry.get("options"):
            tally.add("questions_null", f"{dataset}/{question_type}")
            continue
        options = list(entry["options"])
        answer, answer_idx = entry.get("answer"), entry.get("answer_idx")
        if answer_idx is None:
            if answer not in options:
                tally.add("questions_dropped", f"{dataset}/{question_type}: no answer_idx and answer not in options")
                continue
            answer_idx = options.index(answer)
            tally.add("answer_idx_from_answer", f"{dataset}/{question_type}")
        if not 0 <= answer_idx < len(options):
            tally.add("questions_dropped", f"{dataset}/{question_type}: answer_idx out of range")
            continue
        if answer is not None and options[answer_idx] != answer:
            tally.add("answer_idx_disagrees_with_answer", f"{dataset}/{question_type}")
        sets = _caption_sets(question_type, captions, len(options), answer_idx, dataset, tally)
        key = DEFAULT_CAPTION_KEY[question_type]
        if not sets:  # still asked to generative models; contrastive models skip it (mubench.answering.questions)
            key = ""
            tally.add("questions_without_caption_set", f"{dataset}/{question_type}")
        elif key not in sets:
            key = next(iter(sets))
            tally.add("caption_default_missing", f"{dataset}/{question_type} -> {key}")
        if key:
            tally.add("caption_key", key)
        rows.append(dict(
            question_id=f"{image_id}:{question_type}", image_id=image_id,
            subset="fine" if question_type == FINE_TYPE else "coarse", question_type=question_type,
            dataset=dataset, question=entry["question"], options=options, answer_idx=int(answer_idx),
            captions=sets.pop(key, []), caption_key=key, caption_variants=sets))
    return rows


def _flat_numbers(points) -> list[float]:
    if points is None:
        return []
    if isinstance(points, (int, float)):
        return [float(points)]
    return [x for p in points for x in _flat_numbers(p)]


def outline_box(points) -> list[float] | None:
    """[x1, y1, x2, y2] enclosing a box or polygon given as (x, y) pairs, nested or flat; None if empty/odd."""
    numbers = _flat_numbers(points)
    if len(numbers) < 4 or len(numbers) % 2:
        return None
    xs, ys = numbers[0::2], numbers[1::2]
    return [min(xs), min(ys), max(xs), max(ys)]


def _class_name(raw: str | None, dataset: str, tally: Tally) -> str:
    name = (raw or "").strip().lower()
    if dataset in _HELD and re.sub(r"[\s_]+", "-", _dash_key(raw)) in HELD_NUCLEUS_MARKERS:
        tally.add("detection_class_from_marker", f"{dataset}/{raw} -> nucleus")
        return "nucleus"
    return _CLASS_SYNONYMS.get(name, name)


def _outlines(image_id: str, dataset: str, column: str, value, tally: Tally) -> list[dict]:
    try:
        return as_records(value)
    except UnevenListsError as err:
        tally.add("detection_outlines_uneven", f"{dataset}/{column}: {err}")
        log.warning("image %s (%s): %s holds %s; its outlines are not used", image_id, dataset, column, err)
        return []


def detection_rows(image_id: str, dataset: str, bbox, polygon, tally: Tally) -> list[dict]:
    """One row per (image, Table 18 class): boxes from ``bbox``, or from ``polygon`` when ``bbox`` is empty or
    unusable (uneven parallel lists: counted and logged, never paired by guess)."""
    outlines, origin = _outlines(image_id, dataset, "bbox", bbox, tally), "bbox"
    if not outlines:
        outlines, origin = _outlines(image_id, dataset, "polygon", polygon, tally), "polygon"
    boxes: dict[str, list[list[float]]] = defaultdict(list)
    for outline in outlines:
        name = _class_name(outline.get("className"), dataset, tally)
        if (dataset, name) not in DETECTION_DIFFICULTY:
            tally.add("detection_objects_dropped", f"{dataset}/{name}: not a Table 18 task")
            continue
        box = outline_box(outline.get("points"))
        if box is None:
            tally.add("detection_objects_dropped", f"{dataset}/{name}: empty or odd point list")
            continue
        boxes[name].append(box)
        tally.add(f"detection_boxes_from_{origin}", f"{dataset}/{name}")
    return [dict(image_id=image_id, dataset=dataset, class_name=name, boxes=found,
                 difficulty=DETECTION_DIFFICULTY[(dataset, name)]) for name, found in sorted(boxes.items())]


def selected_for_questions(dataset: str, tasks: str) -> bool:
    return tasks == "all" or dataset in OFFICIAL_DATASETS


def coarse_rows(questions: Iterable[Mapping]) -> dict:
    """Rows in each kind of model's coarse total under each ``report.coarse_caption_sets`` choice: one per question
    it answers (default), plus one per ``<type>_1`` caption set (pooled, the authors' aggregation). Contrastive
    models answer only the questions with a caption set; Random answers every question (and draws again for each
    ``<type>_1`` set); generative models answer every question once either way."""
    coarse = [q for q in questions if q["subset"] == "coarse"]
    captioned = [q for q in coarse if len(q["captions"])]
    extra = sum(f"{q['question_type']}_1" in q["caption_variants"] for q in captioned)
    return dict(contrastive=dict(default=len(captioned), pooled=len(captioned) + extra),
                random=dict(default=len(coarse), pooled=len(coarse) + extra), generative=len(coarse))


def count_by(rows: Iterable[Mapping], *keys: str) -> dict[str, int]:
    return dict(sorted(Counter("/".join(str(r[k]) for k in keys) for r in rows).items()))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageDataError(ValueError):
    """Image bytes that cannot be decoded, or with more pixels than allowed; the caller names the row."""


def png_bytes(data: bytes) -> bytes:
    """The image as PNG, decoded in full first, so a truncated, non-image or oversized image stops the build (the
    caller names the row) instead of a prediction later: PNG input is kept verbatim, anything else re-encoded
    without loss (colour spaces PNG cannot hold — CMYK, YCbCr, LAB, HSV — are converted to RGB; 32-bit float
    images are refused)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            check_pixels(im.size)
            im.load()
            if data.startswith(PNG_SIGNATURE):
                return data
            if im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGB")
            elif im.mode == "F":
                raise ImageDataError("32-bit float image cannot be stored losslessly as PNG")
            buffer = io.BytesIO()
            im.save(buffer, format="PNG")
    except (ImageDataError, BenchmarkImageError) as err:
        raise ImageDataError(str(err)) from None
    except Image.DecompressionBombError as err:
        raise ImageDataError(bomb_message(err)) from None
    except Exception as err:  # Pillow reports damaged data in many types (OSError, SyntaxError, struct.error, …)
        raise ImageDataError(f"not a readable image ({type(err).__name__}: {err})") from err
    return buffer.getvalue()
