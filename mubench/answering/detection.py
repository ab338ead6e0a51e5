"""Detection prompts and box parsers per model family, and the resumable detection pass (appendix Table 18).

Only families whose output format for boxes is known take part: PaliGemma (``<locNNNN>`` tokens) and Qwen-VL-Chat
(``<box>(x1,y1),(x2,y2)</box>``). Each raw response is cached like the MCQ answers (mubench.answering.generative), so a
rerun asks only what is missing. An unparseable response counts as an empty prediction (GRIT score 0 unless the
image has no ground truth) and is reported in the ``parsed`` column.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from PIL import Image

from mubench.benchmark.tables import Benchmark, load_image
from mubench.config import ConfigError
from mubench.answering.generative import GenerationError, ResponseCache, answer_key
from mubench.provenance import Provenance, mubench_version

log = logging.getLogger(__name__)

# Bump when a prompt or a parser changes, so cached responses and stored rows say which version made them.
DETECTION_PROMPT_VERSION = "detect-v1"
DETECTION_PARSER_VERSION = "boxes-v1"

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


def check_detection_models(names, models: dict) -> list[str]:
    """The configured ``detection.models``, refusing unknown names and models without a detection protocol."""
    for name in names:
        if name not in models:
            raise ConfigError(f"detection.models: {name!r} is not a configured model (known: {', '.join(models)})")
        if detection_protocol(models[name]) is None:
            raise ConfigError(f"detection.models: {name!r} (family {models[name].family}) has no detection prompt; "
                             "only PaliGemma and Qwen-VL-Chat (hf_remote_code) can localize")
    return list(names)


def detect_benchmark(spec, benchmark_root: str | Path, *, cache_dir: str | Path, batch_size: int,
                     model=None, device: str = "cpu", full_image_check: bool = False) -> pd.DataFrame:
    """Every detection row of the benchmark answered by ``spec``: predicted boxes beside the ground truth."""
    protocol = detection_protocol(spec)
    if protocol is None:
        raise ValueError(f"model {spec.name!r}: family {spec.family!r} has no detection prompt")
    spec = dataclasses.replace(spec, scoring="generate")  # boxes need free text, never a letter choice
    bench = Benchmark(Path(benchmark_root))
    bench.verify_images(full=full_image_check)  # the response cache trusts the md5 recorded at build time
    if model is None:
        from mubench.models import load_model

        model = load_model(spec, device=device)
    rows = bench.detection.reset_index(drop=True)
    all_files, md5 = bench.image_index()
    files = {i: all_files[i] for i in dict.fromkeys(rows["image_id"])}
    sizes = {i: _image_size(f) for i, f in files.items()}
    cache = ResponseCache(Path(cache_dir) / "responses" / "detection")
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
    table = rows[["image_id", "dataset", "class_name", "difficulty"]].copy()
    table["pred_boxes"] = boxes
    table["gt_boxes"] = [[list(b) for b in g] for g in rows["boxes"]]
    table["response"] = responses
    table["parsed"] = [bool(b) for b in boxes]
    table["model"] = spec.name
    log.info("model %s: %d detection rows, %d without a parseable box", spec.name, len(table), len(pending))
    provenance = _provenance(spec, bench.root)
    for column, value in provenance.items():
        table[column] = value
    return table[DETECTION_COLUMNS + ["model"] + list(provenance)]


def _ask(model, cache: ResponseCache, questions: dict[str, tuple[Path, str]], batch_size: int) -> None:
    """Ask the model every (image, prompt) whose key the cache lacks; each batch is cached atomically."""
    todo = [key for key in questions if key not in cache.answers]
    log.info("%d distinct detection prompts, %d cached, %d to ask", len(questions), len(questions) - len(todo),
             len(todo))
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        images = [[load_image(questions[k][0])] for k in batch]
        for pos, response, _scores in model.generate(images, [questions[k][1] for k in batch], [0] * len(batch)):
            cache.add({batch[pos]: {"response": response, "scores": None}})
        log.info("asked %d/%d", min(start + batch_size, len(todo)), len(todo))
    missing = [key for key in todo if key not in cache.answers]
    if missing:
        raise GenerationError(f"{len(missing)} detection prompts got no response (see the log for the errors). "
                              "Every answered prompt is cached: rerun the job to ask only the missing ones.")


def _provenance(spec, root: Path) -> dict[str, object]:
    manifest = json.loads((root / "manifest.json").read_text())
    return Provenance(
        model_id=spec.source_id, model_revision=spec.weights_revision, model_fingerprint=spec.fingerprint,
        benchmark_source=manifest["source"],
        benchmark_revision=json.dumps(manifest.get("revision", ""), sort_keys=True),
        prompt_version=DETECTION_PROMPT_VERSION, parser_version=DETECTION_PARSER_VERSION,
        seed=spec.seed, mubench_version=mubench_version(),
    ).columns()


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    with Image.open(path) as im:
        return im.size
