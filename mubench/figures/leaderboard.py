"""The leaderboard page (paper_figures/leaderboard.html): one self-contained HTML file a lab can publish.

Models × subsets with accuracy ± CI beside the paper's values (the Table 1 numbers, ``build_table1``), the
published rows of models not run here (ranked with the run's models only when they were measured on the same
benchmark; otherwise listed apart, unranked), each model's provenance from its prediction rows, "not significantly
different from the best" marks from ``significance.csv``, how far the number moves with the caption set or
answer-matching rule (``sensitivity.csv``), the gap to the Prior baseline and the accuracy without the image
(``vision_dependence.csv``), and a browser of each model's answers — right and wrong — with a thumbnail of the
image and the audit's flags (``audit.csv``), which can show the flagged questions alone. Everything the page shows
is in the file (data as JSON, images as small JPEG data URIs); a Content-Security-Policy allows nothing but the
page's own inline script and style and data: images, so the page makes no request. Size is bounded by the settings:
a seeded sample of at most ``max_wrong_per_dataset`` wrong and ``max_correct_per_dataset`` correct answers per
(model, dataset) (flagged questions first), each question's text stored once, at most ``max_thumbnails`` distinct
thumbnails of ``thumbnail_px`` pixels. The same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path

import pandas as pd
from PIL import Image

from mubench.benchmark.tables import load_image
from mubench.figures.export import describe_benchmark
from mubench.benchmark.sources import SOURCES, source_of
from mubench.figures.published import protocol_notes, skip_notes
from mubench.figures.style import GROUP_COLOURS
from mubench.figures.table1 import build_table1
from mubench.models.groups import GROUPS
from mubench.provenance import Provenance

PROVENANCE_COLUMNS = list(Provenance.__dataclass_fields__)
# What the page reads of the prediction rows (mubench.answering.predict.PREDICTION_COLUMNS has more).
PREDICTION_COLUMNS = ["question_id", "image_id", "subset", "question_type", "dataset", "model", "prediction",
                      "answer_idx", "correct", "response"] + PROVENANCE_COLUMNS
DATA_TOKEN = "__LEADERBOARD_DATA__"
CSP_TOKEN = "__CONTENT_SECURITY_POLICY__"


@dataclass(frozen=True, kw_only=True)
class LeaderboardSettings:
    """The page's size caps (config ``leaderboard``) and the significance level (``report.significance_level``)."""

    max_wrong_per_dataset: int  # wrong answers shown per (model, dataset): a seeded sample
    max_correct_per_dataset: int  # correct answers shown per (model, dataset), sampled the same way
    max_thumbnails: int  # distinct images embedded; wrong answers beyond it are shown without one
    thumbnail_px: int  # longest side of a thumbnail
    jpeg_quality: int
    response_chars: int  # a generative model's reply is cut after this many characters
    alpha: float  # Holm-adjusted McNemar p ≥ alpha: not significantly different from the best
    seed: int  # which answers are sampled


def leaderboard_table(scores: pd.DataFrame, models, subsets: Sequence[str], reference: pd.DataFrame) -> pd.DataFrame:
    """Table 1's rows (percent, paper values beside) keyed by model name instead of label."""
    table = build_table1(scores, models, subsets, reference)
    name_of = {spec.label: spec.name for spec in models}
    return table.rename(columns={"model": "label"}).assign(model=lambda t: t["label"].map(name_of))


def significance_marks(table: pd.DataFrame, significance: pd.DataFrame | None, models,
                       alpha: float) -> pd.DataFrame:
    """Per (subset, model): ``best`` (top accuracy) and, for the others, ``tied`` = not significantly different
    from the best (Holm-adjusted McNemar p ≥ alpha) with that ``p``; both unknown (None) without the test."""
    name_of = {**{spec.label: spec.name for spec in models}, **{spec.name: spec.name for spec in models}}
    pairs = {}
    if significance is not None:
        for row in significance.itertuples():
            a, b = name_of.get(row.model_a, row.model_a), name_of.get(row.model_b, row.model_b)
            if not math.isnan(float(row.p_holm)):  # an untestable pair (no discordant answers) stays unmarked
                pairs[(row.subset, frozenset((a, b)))] = float(row.p_holm)
    marks = []
    for subset, rows in table.groupby("subset", sort=False):
        scored = rows.dropna(subset=["accuracy"])
        top = scored["accuracy"].max() if len(scored) else math.nan
        best = sorted(scored.loc[scored["accuracy"] == top, "model"])
        for model in rows["model"]:
            p = pairs.get((subset, frozenset((best[0], model)))) if best else None
            is_best = model in best
            marks.append({"subset": subset, "model": model, "best": is_best, "best_model": best[0] if best else None,
                          "p_vs_best": None if is_best else p,
                          "tied": None if is_best or p is None else bool(p >= alpha)})
    return pd.DataFrame(marks, columns=["subset", "model", "best", "best_model", "p_vs_best", "tied"])


def published_only(reference: pd.DataFrame, models, subsets: Sequence[str]) -> list[dict]:
    """The published rows of models this run does not score (no configured ``paper_name`` matches), so a new model
    is ranked among everything the paper or leaderboard reports on the same benchmark (the page lists them apart
    when they were measured on another); ``kind`` is the publication's model group."""
    scored = {spec.paper_name for spec in models}
    rows = reference[reference["subset"].isin(subsets) & ~reference["model"].isin(scored)]
    published: dict[str, dict] = {}
    for row in rows.itertuples():
        entry = published.setdefault(row.model, {"name": row.model, "kind": getattr(row, "type", None), "cells": {}})
        entry["cells"][row.subset] = {"paper": row.accuracy, "paper_ci": row.ci}
    return list(published.values())


def sensitivity_cells(sensitivity: pd.DataFrame, models) -> dict[str, dict[str, dict]]:
    """model → subset → the factor varied, the spread (percentage points) and each variant's accuracy."""
    name_of = {spec.label: spec.name for spec in models}
    out: dict[str, dict[str, dict]] = {}
    for (label, subset, factor), rows in sensitivity.groupby(["model", "subset", "factor"], sort=True):
        out.setdefault(name_of.get(label, label), {})[subset] = {
            "factor": factor, "spread": rows["spread"].iloc[0],
            "variants": [[row.variant, row.accuracy] for row in rows.itertuples()]}
    return out


def baseline_cells(table: pd.DataFrame, models, vision: pd.DataFrame | None) -> dict[str, dict[str, dict]]:
    """model → subset → what the score means beside its baselines: ``prior_gap`` (accuracy − the first Prior
    model's, percentage points; ``prior``: its label) and ``blind`` (vision_dependence.csv's row of the model's first
    blind ablation: accuracy without the image, the difference with − without and its CI). Random and Prior read no
    image: no ``blind``."""
    prior = next((spec for spec in models if spec.kind == "prior"), None)
    accuracy = table.set_index(["model", "subset"])["accuracy"]
    spec_of = {spec.name: spec for spec in models}
    blind_rows = {}
    for row in (vision.itertuples() if vision is not None else ()):
        blind_rows.setdefault((row.model, row.subset), row)  # the model's first ablation
    out: dict[str, dict[str, dict]] = {}
    for row in table.itertuples():
        cell = {"prior": None, "prior_gap": None, "blind": None}
        if prior is not None and row.model != prior.name:
            cell["prior"], cell["prior_gap"] = prior.label, row.accuracy - accuracy.get((prior.name, row.subset))
        spec = spec_of[row.model]
        blind = blind_rows.get((spec.label, row.subset))
        if blind is not None and not spec.is_baseline:
            cell["blind"] = {"ablation": blind.ablation, "accuracy": blind.acc_blind, "diff": blind.diff,
                             "diff_ci_low": blind.diff_ci_low, "diff_ci_high": blind.diff_ci_high, "n": blind.n}
        out.setdefault(row.model, {})[row.subset] = cell
    return out


def model_provenance(predictions: pd.DataFrame) -> dict[str, dict[str, dict[str, str]]]:
    """model → subset → provenance column → value (distinct values joined, which a single job never has)."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    keys = ["model", "subset"]
    distinct = predictions[keys + PROVENANCE_COLUMNS].drop_duplicates()
    for (model, subset), rows in distinct.groupby(keys, sort=True):
        out.setdefault(model, {})[subset] = {
            column: " | ".join(sorted({str(v) for v in rows[column]})) for column in PROVENANCE_COLUMNS}
    return out


def sample_key(seed: int, question_id: str) -> str:
    """A stable pseudo-random order of questions: the same questions come first for every model."""
    return hashlib.sha256(f"{seed}\x00{question_id}".encode()).hexdigest()


COUNT_KEYS = ["model", "subset", "question_type", "dataset"]
AUDIT_KEY = "audit"  # a further count key when the audit ran: "flagged" or "not flagged"


def audit_status(flags: str) -> str:
    return "flagged" if flags else "not flagged"


def sampled_answers(predictions: pd.DataFrame, settings: LeaderboardSettings,
                    flags: pd.Series | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counts, shown): answered and wrong per COUNT_KEYS (and per AUDIT_KEY when ``flags`` are given), and a
    sample of each model's answers per dataset — the first ``max_wrong_per_dataset`` wrong and
    ``max_correct_per_dataset`` correct ones in the seeded question order (the same for every model), each with its
    ``rank`` among its (model, dataset, correct). ``flags``: question_id → the audit's flags ("a;b", "" for none);
    flagged questions come first in that order, so the page can show them alone."""
    correct = predictions["correct"].astype(bool)
    flag_of = flags.to_dict() if flags is not None else {}
    question_ids = predictions["question_id"].tolist()  # a list: iterating an Arrow-backed column is slow
    flagged = pd.Series([bool(flag_of.get(q, "")) for q in question_ids], index=predictions.index)
    keys = COUNT_KEYS + [AUDIT_KEY] * (flags is not None)
    counts = (predictions.assign(wrong=~correct, **{AUDIT_KEY: flagged.map(audit_status)}).groupby(keys, sort=True)
              .agg(n_answered=("wrong", "size"), n_wrong=("wrong", "sum")).reset_index())
    columns = ["model", "dataset", "question_id", "image_id", "subset", "question_type", "prediction", "response"]
    answers = predictions[columns].assign(correct=correct)
    key_of = {q: sample_key(settings.seed, q) for q in dict.fromkeys(question_ids)}  # once per question, not per model
    answers["key"] = [("0" if first else "1") + key_of[q] for q, first in zip(question_ids, flagged.tolist())]
    keys = ["model", "dataset", "correct"]
    answers = answers.sort_values(keys + ["key"], kind="stable")
    answers["rank"] = answers.groupby(keys, sort=False).cumcount()
    cap = answers["correct"].map({False: settings.max_wrong_per_dataset, True: settings.max_correct_per_dataset})
    shown = answers[answers["rank"] < cap].drop(columns="key")
    return counts, shown.reset_index(drop=True)


def thumbnail_order(shown: pd.DataFrame, image_md5: dict[str, str], limit: int) -> list[str]:
    """Distinct images (by content) that get a thumbnail: wrong answers before correct ones, and within each rank 0
    of every (model, dataset) first, then rank 1…"""
    order = shown.sort_values(["correct", "rank", "model", "dataset"], kind="stable")
    distinct = list(dict.fromkeys(image_md5[i] for i in order["image_id"]))
    return distinct[:limit]


def thumbnail(path: Path, size: int, quality: int) -> str:
    """A JPEG data URI of the image shrunk to ``size`` px on its longest side (no metadata: same bytes each run)."""
    image = load_image(path)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=False, progressive=False)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def published_benchmark(source_name: str) -> str:
    """The benchmark the source's published values were measured on: its own, or the one whose reference file it
    borrows (the demo prints μ-Bench's Table 1)."""
    source = source_of(source_name)
    if source.measured_here:
        return source.title
    return next(s.title for s in SOURCES.values() if s.reference == source.reference and s.measured_here)


def page_data(*, table: pd.DataFrame, marks: pd.DataFrame, models, subsets: Sequence[str],
              provenance: dict, counts: pd.DataFrame, shown: pd.DataFrame, questions: pd.DataFrame,
              thumbnails: dict[str, str], image_md5: dict[str, str], manifest: dict, significance_available: bool,
              sensitivity: dict[str, dict[str, dict]], published: list[dict],
              bootstrap: dict, settings: LeaderboardSettings, baselines: dict[str, dict[str, dict]] | None = None,
              flags: pd.Series | None = None) -> dict:
    """Everything the page renders, as plain JSON-ready values (NaN → None). A cell is a dict per (model, subset),
    so a new column is one more key here and one more entry in the page's column list. ``baselines``:
    baseline_cells; ``flags``: the audit's flags per question_id (absent: the audit did not run)."""
    marks = marks.set_index(["subset", "model"])
    baselines = baselines or {}
    flag_of = flags.to_dict() if flags is not None else {}
    cells = {}
    for row in table.itertuples():
        mark = marks.loc[(row.subset, row.model)]
        cells.setdefault(row.model, {})[row.subset] = {
            "accuracy": row.accuracy, "ci_low": row.ci_low, "ci_high": row.ci_high, "halfwidth": row.ci_halfwidth,
            "n": row.n_questions, "paper": row.paper_accuracy, "paper_ci": row.paper_ci,
            "best": bool(mark["best"]), "tied": mark["tied"], "p": mark["p_vs_best"], "best_model": mark["best_model"],
            "sensitivity": sensitivity.get(row.model, {}).get(row.subset),
            **baselines.get(row.model, {}).get(row.subset, {})}
    text = questions.set_index("question_id")
    asked = {}  # each sampled question's text once, however many models' answers show it
    for question_id, image_id in dict(zip(shown["question_id"].tolist(), shown["image_id"].tolist())).items():
        q = text.loc[question_id]
        md5 = image_md5[image_id]
        asked[question_id] = {
            "subset": q["subset"], "question_type": q["question_type"], "dataset": q["dataset"],
            "question": q["question"], "options": list(q["options"]), "answer": int(q["answer_idx"]),
            "image": md5 if md5 in thumbnails else None, "more_images": len(q["extra_image_ids"])}
        if flags is not None:
            asked[question_id].update({"flags": [f for f in flag_of.get(question_id, "").split(";") if f],
                                       AUDIT_KEY: audit_status(flag_of.get(question_id, ""))})
    answers: dict[str, list] = {}
    for row in shown.itertuples():
        response = row.response if isinstance(row.response, str) else None  # None: not a generative model
        answers.setdefault(row.model, []).append({
            "question_id": row.question_id, "prediction": int(row.prediction), "correct": bool(row.correct),
            "response": None if response is None else _cut(response, settings.response_chars)})
    source = source_of(manifest["source"])
    return _clean({
        "benchmark": {"title": f"{source.title} leaderboard", "source": manifest["source"],
                      "description": describe_benchmark(manifest),
                      "notes": [*source.published_notes, *protocol_notes(manifest, models),
                                *skip_notes(manifest, models)]},  # what Table 1 says of the published values
        "subsets": list(subsets),
        "groups": {key: {"label": label, "colour": GROUP_COLOURS[key]} for key, label in GROUPS.items()
                   if any(spec.group == key for spec in models)},  # the figures' legend order and colours
        "models": [{"name": spec.name, "label": spec.label, "family": spec.family, "kind": spec.kind,
                    "baseline": spec.is_baseline,
                    "group": spec.group, "note": spec.note, "paper_name": spec.paper_name,
                    "provenance": provenance.get(spec.name, {}), "cells": cells.get(spec.name, {})}
                   for spec in models],
        "published": published,
        # Published values measured on these very questions rank with the run's models and get a Δ; measured on
        # another benchmark (the demo borrows μ-Bench's), they are listed apart, unranked, hidden until asked for.
        "published_comparable": source.measured_here,
        "published_benchmark": published_benchmark(manifest["source"]),
        "significance": {"available": significance_available, "alpha": settings.alpha},
        "audit": {"available": flags is not None},
        "bootstrap": dict(bootstrap),
        "counts": counts.to_dict("records"),
        "questions": asked,
        "answers": answers,
        "caps": {**asdict(settings), "thumbnails_embedded": len(thumbnails),
                 "answers_shown": int(len(shown)), "answers_total": int(counts["n_answered"].sum()) if len(counts)
                 else 0},
        "images": thumbnails,
    })


def render_page(data: dict) -> str:
    """The template with the data embedded and a CSP that admits only its own inline script and style."""
    template = template_text()
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    payload = payload.replace("<", "\\u003c")  # never closes the <script> element it sits in
    if DATA_TOKEN not in template or CSP_TOKEN not in template:
        raise ValueError(f"leaderboard template lacks {DATA_TOKEN} or {CSP_TOKEN}")
    scripts = re.findall(r"<script>(.*?)</script>", template, re.S)
    styles = re.findall(r"<style>(.*?)</style>", template, re.S)
    csp = "; ".join([
        "default-src 'none'", "img-src data:", "style-src " + " ".join(map(_csp_hash, styles)),
        "script-src " + " ".join(map(_csp_hash, scripts)), "base-uri 'none'", "form-action 'none'"])
    return template.replace(CSP_TOKEN, csp).replace(DATA_TOKEN, payload)


def template_text() -> str:
    return files("mubench.figures").joinpath("templates/leaderboard.html").read_text(encoding="utf-8")


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters]"


def _clean(value):
    """JSON-ready: NaN/NA → None, numpy scalars → Python numbers, floats rounded to 4 decimals."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    return value


def leaderboard_data(*, scores: pd.DataFrame, predictions: pd.DataFrame, questions: pd.DataFrame,
                     image_files: dict[str, Path], image_md5: dict[str, str], manifest: dict,
                     reference: pd.DataFrame, significance: pd.DataFrame | None, sensitivity: pd.DataFrame,
                     models, subsets: Sequence[str], bootstrap: dict, settings: LeaderboardSettings,
                     vision: pd.DataFrame | None = None, audit: pd.DataFrame | None = None) -> dict:
    """What the page shows, from the workflow's tables (Table 1 scores, prediction rows, benchmark tables,
    significance.csv, sensitivity.csv, and vision_dependence.csv and audit.csv when given)."""
    table = leaderboard_table(scores, models, subsets, reference)
    marks = significance_marks(table, significance, models, settings.alpha)
    flags = audit.set_index("question_id")["flags"].fillna("") if audit is not None else None
    counts, shown = sampled_answers(predictions, settings, flags)
    first_image = {}  # md5 → one image file with that content
    for image_id in shown["image_id"]:
        first_image.setdefault(image_md5[image_id], image_files[image_id])
    thumbnails = {md5: thumbnail(first_image[md5], settings.thumbnail_px, settings.jpeg_quality)
                  for md5 in thumbnail_order(shown, image_md5, settings.max_thumbnails)}
    return page_data(table=table, marks=marks, models=models, subsets=subsets,
                     provenance=model_provenance(predictions), counts=counts, shown=shown, questions=questions,
                     thumbnails=thumbnails, image_md5=image_md5, manifest=manifest,
                     significance_available=significance is not None,
                     sensitivity=sensitivity_cells(sensitivity, models),
                     published=published_only(reference, models, subsets), bootstrap=bootstrap, settings=settings,
                     baselines=baseline_cells(table, models, vision), flags=flags)
