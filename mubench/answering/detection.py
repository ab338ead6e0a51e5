"""Detection answering per model family, and the detection pass over the benchmark (appendix Table 18).

Two ways to localize, picked per family (``detection_answerer``):
- a detector (family kind ``detection``, e.g. the classical threshold detector) returns boxes itself;
- a VLM whose box format is known is prompted and its reply parsed: PaliGemma (``<locNNNN>`` tokens) and
  Qwen-VL-Chat (``<box>(x1,y1),(x2,y2)</box>``). Each raw response is cached like the MCQ answers
  (mubench.answering.generative), so a rerun asks only what is missing. An unparseable response counts as an
  empty prediction (GRIT score 0 unless the image has no ground truth) and is reported in the ``parsed`` column.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from PIL import Image

from mubench.benchmark.tables import Benchmark, load_image
from mubench.answering.generative import GenerationError, ResponseCache, answer_key
from mubench.answering.prefetch import prefetched
from mubench.errors import ConfigError
from mubench.models.spec import parse_model
from mubench.provenance import Provenance, mubench_version

log = logging.getLogger(__name__)

# Bump when a prompt or a parser changes, so cached responses and stored rows say which version made them.
DETECTION_PROMPT_VERSION = "detect-v1"
DETECTION_PARSER_VERSION = "boxes-v1"
# Bump when the classical detector's algorithm changes (its settings are recorded beside it).
DETECTOR_VERSION = "threshold-components-v1"

DETECTION_COLUMNS = ["image_id", "dataset", "class_name", "difficulty", "pred_boxes", "gt_boxes", "response",
                     "parsed"]

_LOC = re.compile(r"<loc(\d{4})>")
_QWEN_BOX = re.compile(r"<box>\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*,\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*</box>")


def parse_paligemma(text: str, width: int, height: int) -> list[list[float]]:
    """Per ``;``-separated part, its first four ``<locNNNN>`` = (y_min, x_min, y_max, x_max) on a 1024 grid."""
    boxes = []
    for part in text.split(";"):
        locs = [int(v) for v in _LOC.findall(part)[:4]]
        if len(locs) == 4:
            y1, x1, y2, x2 = locs
            boxes.append([x1 / 1024 * width, y1 / 1024 * height, x2 / 1024 * width, y2 / 1024 * height])
    return boxes


def parse_qwen_vl(text: str, width: int, height: int) -> list[list[float]]:
    """Every ``<box>(x1,y1),(x2,y2)</box>``, on Qwen-VL's 1000 × 1000 grid."""
    return [[x1 / 1000 * width, y1 / 1000 * height, x2 / 1000 * width, y2 / 1000 * height]
            for x1, y1, x2, y2 in ((int(v) for v in m) for m in _QWEN_BOX.findall(text))]


@dataclasses.dataclass(frozen=True)
class DetectionProtocol:
    prompts: tuple[str, ...]  # tried in order while the response yields no box; ``{cls}`` is the class name
    parse: Callable[[str, int, int], list[list[float]]]


PALIGEMMA = DetectionProtocol(("detect {cls}", "segment {cls}; {cls}"), parse_paligemma)
QWEN_VL = DetectionProtocol(("Detect {cls}",), parse_qwen_vl)


def detection_protocol(spec) -> DetectionProtocol | None:
    """The family's detection prompt and parser; None for models whose box format is not defined."""
    if spec.family == "paligemma":
        return PALIGEMMA
    if spec.family == "hf_remote_code" and "qwen-vl" in (spec.model_id or "").lower():
        return QWEN_VL
    return None


@dataclasses.dataclass(frozen=True)
class BoxAnswers:
    """One model's answer to every detection row, and the versions of what produced it."""

    boxes: list[list[list[float]]]
    responses: list[str]  # the VLM's raw reply, or the detector's summary of what it found
    parsed: list[bool]  # False: a reply with no readable box (always True for a detector)
    prompt_version: str
    parser_version: str


def detection_answerer(spec) -> Callable[..., BoxAnswers] | None:
    """How the model localizes: its own detector, or a text prompt whose reply is parsed; None if it cannot."""
    if spec.kind == "detection":
        return _detector_boxes
    protocol = detection_protocol(spec)
    return None if protocol is None else functools.partial(_prompted_boxes, protocol)


def detection_models(entries, models: dict) -> dict:
    """``detection.models`` by name: each a configured model's name, or a detection-only model entry (dict)."""
    chosen = {}
    for i, entry in enumerate(entries):
        where = f"detection.models[{i}]"
        if isinstance(entry, str):
            if entry not in models:
                raise ConfigError(f"{where}: {entry!r} is not a configured model (known: {', '.join(models)})")
            spec = models[entry]
        else:
            spec = parse_model(entry, where)
            if spec.name in models:
                raise ConfigError(f"{where}: {spec.name!r} is also the name of a model under `models:`")
        if spec.name in chosen:
            raise ConfigError(f"{where}: {spec.name!r} is listed twice")
        if detection_answerer(spec) is None:
            raise ConfigError(f"{where}: {spec.name!r} (family {spec.family}) cannot localize: only detector "
                              "families (classical_detector), PaliGemma and Qwen-VL-Chat (hf_remote_code) can")
        chosen[spec.name] = spec
    return chosen


def detect_benchmark(spec, benchmark_root: str | Path, *, cache_dir: str | Path, batch_size: int,
                     model=None, device: str = "cpu", full_image_check: bool = False) -> pd.DataFrame:
    """Every detection row of the benchmark answered by ``spec``: predicted boxes beside the ground truth."""
    answerer = detection_answerer(spec)
    if answerer is None:
        raise ValueError(f"model {spec.name!r}: family {spec.family!r} cannot localize")
    if spec.kind != "detection":
        spec = dataclasses.replace(spec, scoring="generate")  # boxes need free text, never a letter choice
    bench = Benchmark(Path(benchmark_root))
    bench.verify_images(full=full_image_check)  # the response cache trusts the md5 recorded at build time
    if model is None:
        from mubench.models import load_model

        model = load_model(spec, device=device)
    rows = bench.detection.reset_index(drop=True)
    all_files, md5 = bench.image_index()
    files = {i: all_files[i] for i in dict.fromkeys(rows["image_id"])}
    answers = answerer(spec, model, rows, files, md5, cache_dir=Path(cache_dir), batch_size=batch_size)
    table = rows[["image_id", "dataset", "class_name", "difficulty"]].copy()
    table["pred_boxes"] = answers.boxes
    table["gt_boxes"] = [[list(b) for b in g] for g in rows["boxes"]]
    table["response"] = answers.responses
    table["parsed"] = answers.parsed
    table["model"] = spec.name
    log.info("model %s: %d detection rows, %d without a parseable box", spec.name, len(table),
             len(table) - sum(answers.parsed))
    provenance = _provenance(spec, bench.root, answers)
    for column, value in provenance.items():
        table[column] = value
    return table[DETECTION_COLUMNS + ["model"] + list(provenance)]


def _detector_boxes(spec, model, rows, files, md5, *, cache_dir, batch_size) -> BoxAnswers:
    """Each image detected once (the detector ignores the class name), in batches; fast enough to need no cache."""
    found = {}
    images = list(files)
    batches = [images[start:start + batch_size] for start in range(0, len(images), batch_size)]
    for batch, decoded in prefetched(batches, lambda batch: [load_image(files[i]) for i in batch]):
        found.update(zip(batch, model.detect(decoded)))
        log.info("detected %d/%d images", len(found), len(images))
    detections = [found[i] for i in rows["image_id"]]
    t = spec.thresholding
    return BoxAnswers(
        boxes=[d.boxes for d in detections], responses=[d.summary for d in detections], parsed=[True] * len(rows),
        prompt_version=(f"{t.method} threshold, sigma {t.sigma}, invert {t.invert}, min_area {t.min_area}, "
                        f"split_min_distance {t.split_min_distance}"),
        parser_version=f"{DETECTOR_VERSION} (scikit-image {_skimage_version()})",
    )


def _prompted_boxes(protocol: DetectionProtocol, spec, model, rows, files, md5, *, cache_dir,
                    batch_size) -> BoxAnswers:
    """Ask each row's prompt, and the next prompt only for rows whose reply held no box; replies cached."""
    sizes = {i: _image_size(f) for i, f in files.items()}
    cache = ResponseCache(cache_dir / "responses" / "detection")
    responses, boxes = [""] * len(rows), [[] for _ in range(len(rows))]
    pending = list(range(len(rows)))
    for template in protocol.prompts:
        prompts = {r: template.format(cls=rows.at[r, "class_name"]) for r in pending}
        keys = {r: answer_key(spec.fingerprint, f"detection:{DETECTION_PROMPT_VERSION}",
                              [md5[rows.at[r, "image_id"]]], prompts[r]) for r in pending}
        _ask(model, cache, {keys[r]: (files[rows.at[r, "image_id"]], prompts[r]) for r in pending}, batch_size)
        for r in pending:
            responses[r] = cache.answers[keys[r]]["response"]
            boxes[r] = protocol.parse(responses[r], *sizes[rows.at[r, "image_id"]])
        pending = [r for r in pending if not boxes[r]]
    cache.compact()
    return BoxAnswers(boxes=boxes, responses=responses, parsed=[bool(b) for b in boxes],
                      prompt_version=DETECTION_PROMPT_VERSION, parser_version=DETECTION_PARSER_VERSION)


def _ask(model, cache: ResponseCache, questions: dict[str, tuple[Path, str]], batch_size: int) -> None:
    """Ask the model every (image, prompt) whose key the cache lacks; each batch is cached atomically."""
    todo = [key for key in questions if key not in cache.answers]
    log.info("%d distinct detection prompts, %d cached, %d to ask", len(questions), len(questions) - len(todo),
             len(todo))
    batches = [todo[start:start + batch_size] for start in range(0, len(todo), batch_size)]
    asked = 0

    def load(batch: list[str]) -> list[list]:
        """Each image of the batch decoded once, however many class prompts ask about it."""
        decoded = {path: load_image(path) for path in dict.fromkeys(questions[k][0] for k in batch)}
        return [[decoded[questions[k][0]]] for k in batch]

    for batch, images in prefetched(batches, load):
        for pos, response, _scores in model.generate(images, [questions[k][1] for k in batch], [0] * len(batch)):
            cache.add({batch[pos]: {"response": response, "scores": None}})
        asked += len(batch)
        log.info("asked %d/%d", asked, len(todo))
    missing = [key for key in todo if key not in cache.answers]
    if missing:
        raise GenerationError(f"{len(missing)} detection prompts got no response (see the log for the errors). "
                              "Every answered prompt is cached: rerun the job to ask only the missing ones.")


def _provenance(spec, root: Path, answers: BoxAnswers) -> dict[str, object]:
    manifest = json.loads((root / "manifest.json").read_text())
    return Provenance(
        model_id=spec.source_id, model_revision=spec.weights_revision, model_fingerprint=spec.fingerprint,
        benchmark_source=manifest["source"],
        benchmark_revision=json.dumps(manifest.get("revision", ""), sort_keys=True),
        prompt_version=answers.prompt_version, parser_version=answers.parser_version,
        seed=spec.seed, mubench_version=mubench_version(),
    ).columns()


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    with Image.open(path) as im:
        return im.size


def _skimage_version() -> str:
    import skimage

    return skimage.__version__
