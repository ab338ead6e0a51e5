"""The leaderboard page (paper_figures/leaderboard.html): one self-contained HTML file a lab can publish.

Models × subsets with accuracy ± CI beside the paper's values (the Table 1 numbers, ``build_table1``), the
published rows of models not run here (to rank a new model among them), each model's provenance from its
prediction rows, "not significantly different from the best" marks from ``significance.csv``, how far the number
moves with the caption set or answer-matching rule (``sensitivity.csv``), the gap to the Prior baseline and the
accuracy without the image (``vision_dependence.csv``), and a browser of the questions each model got wrong with a
thumbnail of the image, which can show only the questions the audit flagged (``audit.csv``). Everything the page
shows is in the file (data as JSON, images as small JPEG data URIs); a Content-Security-Policy allows nothing but
the page's own inline script and style and data: images, so the page makes no request. Size is bounded by the
settings: a seeded sample of at most ``max_wrong_per_dataset`` wrong answers per (model, dataset), at most
``max_thumbnails`` distinct thumbnails of ``thumbnail_px`` pixels. The same inputs give the same bytes.
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
from mubench.benchmark.sources import source_of
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
    max_thumbnails: int  # distinct images embedded; wrong answers beyond it are shown without one
    thumbnail_px: int  # longest side of a thumbnail
    jpeg_quality: int
    response_chars: int  # a generative model's reply is cut after this many characters
    alpha: float  # Holm-adjusted McNemar p ≥ alpha: not significantly different from the best
    seed: int  # which wrong answers are sampled


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
    is ranked among everything the paper or leaderboard reports; ``kind`` is the publication's model group."""
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
    model's, percentage points) and ``blind`` (vision_dependence.csv's row of the model's first blind ablation:
    accuracy without the image, the difference and its CI)."""
    prior = next((spec for spec in models if spec.kind == "prior"), None)
    accuracy = table.set_index(["model", "subset"])["accuracy"]
    label_of = {spec.name: spec.label for spec in models}
    blind_rows = {}
    if vision is not None:
        for row in vision.itertuples():
            blind_rows.setdefault((row.model, row.subset), row)  # the model's first ablation
    out: dict[str, dict[str, dict]] = {}
    for row in table.itertuples():
        cell = {"prior": None, "prior_gap": None, "blind": None}
        if prior is not None and row.model != prior.name:
            cell["prior"], cell["prior_gap"] = prior.label, row.accuracy - accuracy.get((prior.name, row.subset))
        blind = blind_rows.get((label_of[row.model], row.subset))
        if blind is not None and not next(s for s in models if s.name == row.model).is_baseline:
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


def wrong_answers(predictions: pd.DataFrame, questions: pd.DataFrame, settings: LeaderboardSettings,
                  flags: pd.Series | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counts, shown): answered, wrong and wrong-and-flagged per (model, dataset), and the sampled wrong answers
    with their question, options, the model's choice and reply and audit flags, ranked within their (model,
    dataset). ``flags``: question_id → the audit's flags ("a;b", "" for none); flagged questions are sampled first,
    so the page can show them alone."""
    keys = ["model", "dataset"]
    flag_of = flags.to_dict() if flags is not None else {}
    rows = predictions.assign(wrong=~predictions["correct"].astype(bool),
                              flags=[flag_of.get(q, "") for q in predictions["question_id"]])
    rows["flagged_wrong"] = rows["wrong"] & (rows["flags"] != "")
    counts = rows.groupby(keys, sort=True).agg(n_answered=("wrong", "size"), n_wrong=("wrong", "sum"),
                                               n_flagged_wrong=("flagged_wrong", "sum")).reset_index()
    columns = ["model", "dataset", "question_id", "image_id", "subset", "question_type", "prediction", "answer_idx",
               "response", "flags"]
    wrong = rows.loc[rows["wrong"], columns].copy()
    wrong["key"] = [("1" if f == "" else "0") + sample_key(settings.seed, q)
                    for q, f in zip(wrong["question_id"], wrong["flags"])]
    wrong = wrong.sort_values(keys + ["key"], kind="stable")
    wrong["rank"] = wrong.groupby(keys, sort=False).cumcount()
    shown = wrong[wrong["rank"] < settings.max_wrong_per_dataset].drop(columns="key")
    text = questions.set_index("question_id")[["question", "options", "extra_image_ids"]]
    shown = shown.join(text, on="question_id")
    return counts, shown.reset_index(drop=True)


def thumbnail_order(shown: pd.DataFrame, image_md5: dict[str, str], limit: int) -> list[str]:
    """Distinct images (by content) that get a thumbnail: rank 0 of every (model, dataset) first, then rank 1…"""
    order = shown.sort_values(["rank", "model", "dataset"], kind="stable")
    distinct = list(dict.fromkeys(image_md5[i] for i in order["image_id"]))
    return distinct[:limit]


def thumbnail(path: Path, size: int, quality: int) -> str:
    """A JPEG data URI of the image shrunk to ``size`` px on its longest side (no metadata: same bytes each run)."""
    image = load_image(path)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=False, progressive=False)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def page_data(*, table: pd.DataFrame, marks: pd.DataFrame, models, subsets: Sequence[str],
              provenance: dict, counts: pd.DataFrame, shown: pd.DataFrame, thumbnails: dict[str, str],
              image_md5: dict[str, str], manifest: dict, significance_available: bool,
              sensitivity: dict[str, dict[str, dict]], published: list[dict],
              bootstrap: dict, settings: LeaderboardSettings, baselines: dict[str, dict[str, dict]] | None = None,
              audit_available: bool = False) -> dict:
    """Everything the page renders, as plain JSON-ready values (NaN → None)."""
    marks = marks.set_index(["subset", "model"])
    baselines = baselines or {}
    cells = {}
    for row in table.itertuples():
        mark = marks.loc[(row.subset, row.model)]
        cells.setdefault(row.model, {})[row.subset] = {
            "accuracy": row.accuracy, "ci_low": row.ci_low, "ci_high": row.ci_high, "halfwidth": row.ci_halfwidth,
            "n": row.n_questions, "paper": row.paper_accuracy, "paper_ci": row.paper_ci,
            "best": bool(mark["best"]), "tied": mark["tied"], "p": mark["p_vs_best"], "best_model": mark["best_model"],
            "sensitivity": sensitivity.get(row.model, {}).get(row.subset),
            **baselines.get(row.model, {}).get(row.subset, {})}
    wrong: dict[str, dict[str, dict]] = {}
    for row in counts.itertuples():
        wrong.setdefault(row.model, {})[row.dataset] = {"answered": row.n_answered, "wrong": row.n_wrong,
                                                         "flagged": row.n_flagged_wrong, "items": []}
    for row in shown.itertuples():
        response = row.response if isinstance(row.response, str) else None  # None: not a generative model
        md5 = image_md5[row.image_id]
        wrong[row.model][row.dataset]["items"].append({
            "question_id": row.question_id, "subset": row.subset, "question_type": row.question_type,
            "question": row.question, "options": list(row.options), "answer": int(row.answer_idx),
            "prediction": int(row.prediction), "image": md5 if md5 in thumbnails else None,
            "more_images": len(row.extra_image_ids), "flags": [f for f in row.flags.split(";") if f],
            "response": None if response is None else _cut(response, settings.response_chars)})
    source = source_of(manifest["source"])
    return _clean({
        "benchmark": {"title": f"{source.title} leaderboard",
                      "description": describe_benchmark(manifest),
                      "notes": [*source.published_notes, *protocol_notes(manifest, models),
                                *skip_notes(manifest, models)]},  # what Table 1 says of the published values
        "subsets": list(subsets),
        "groups": {key: {"label": label, "colour": GROUP_COLOURS[key]} for key, label in GROUPS.items()
                   if any(spec.group == key for spec in models)},  # the figures' legend order and colours
        "models": [{"name": spec.name, "label": spec.label, "family": spec.family, "kind": spec.kind,
                    "group": spec.group, "note": spec.note, "paper_name": spec.paper_name,
                    "provenance": provenance.get(spec.name, {}), "cells": cells.get(spec.name, {})}
                   for spec in models],
        "published": published,
        "published_shown": source.measured_here,  # else hidden until asked for: measured on another benchmark
        "significance": {"available": significance_available, "alpha": settings.alpha},
        "audit": {"available": audit_available},
        "bootstrap": dict(bootstrap),
        "wrong": wrong,
        "caps": {**asdict(settings), "thumbnails_embedded": len(thumbnails),
                 "wrong_shown": int(len(shown)), "wrong_total": int(counts["n_wrong"].sum()) if len(counts) else 0},
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
    counts, shown = wrong_answers(predictions, questions, settings, flags)
    first_image = {}  # md5 → one image file with that content
    for image_id in shown["image_id"]:
        first_image.setdefault(image_md5[image_id], image_files[image_id])
    thumbnails = {md5: thumbnail(first_image[md5], settings.thumbnail_px, settings.jpeg_quality)
                  for md5 in thumbnail_order(shown, image_md5, settings.max_thumbnails)}
    return page_data(table=table, marks=marks, models=models, subsets=subsets,
                     provenance=model_provenance(predictions), counts=counts, shown=shown, thumbnails=thumbnails,
                     image_md5=image_md5, manifest=manifest, significance_available=significance is not None,
                     sensitivity=sensitivity_cells(sensitivity, models),
                     published=published_only(reference, models, subsets), bootstrap=bootstrap, settings=settings,
                     baselines=baseline_cells(table, models, vision), audit_available=audit is not None)
