"""Predictions of one model: its subsets answered by its kind's protocol (random, contrastive, generative), one
row per question with the provenance of the model, the benchmark and the prompt (DESIGN §4)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from mubench.answering.blind import ABLATIONS, NEUTRAL_IMAGE, NO_IMAGE, neutral_images
from mubench.answering.contrastive import contrastive_scores
from mubench.answering.generative import GENERATIVE_COLUMNS, generative_answers
from mubench.answering.prompting import protocol_of
from mubench.answering.questions import subset_questions
from mubench.benchmark.tables import IMAGE_ATTRIBUTES
from mubench.models import load_for, model_info
from mubench.models.prior_baseline import prior_answers
from mubench.models.random_baseline import random_scores
from mubench.provenance import Provenance

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = [
    "question_id", "image_id", "subset", "question_type", "dataset", *IMAGE_ATTRIBUTES, "model",
    "prediction", "answer_idx", "correct", "scores",
] + GENERATIVE_COLUMNS  # response and every matching rule's reading; null for contrastive/random rows


def random_baseline_scores(questions: pd.DataFrame, seed: int) -> list[np.ndarray]:
    return [random_scores(seed, q.question_id, len(q.options)) for q in questions.itertuples()]


def prediction_table(
    questions: pd.DataFrame, scores: Iterable[np.ndarray] | pd.DataFrame, model_name: str, provenance: Provenance
) -> pd.DataFrame:
    """One row per question: argmax prediction, correctness and the full score vector, with provenance.

    Generative answerers pass a table instead, already holding prediction, correct, scores and the response
    columns (their prediction is the parsed option, -1 when unparseable)."""
    out = questions[["question_id", "image_id", "subset", "question_type", "dataset", *IMAGE_ATTRIBUTES,
                     "answer_idx"]].copy()
    out["model"] = model_name
    if isinstance(scores, pd.DataFrame):
        for column in scores.columns:
            out[column] = scores[column].to_numpy()
    else:
        scores = [np.asarray(s, dtype=np.float64) for s in scores]
        out["prediction"] = [int(np.argmax(s)) for s in scores]
        out["correct"] = out["prediction"] == out["answer_idx"]
        out["scores"] = [s.tolist() for s in scores]
        for column in GENERATIVE_COLUMNS:
            out[column] = None
    for column, value in provenance.columns().items():
        out[column] = value
    return out[PREDICTION_COLUMNS + list(provenance.columns())].reset_index(drop=True)


@dataclass(frozen=True)
class ShownImages:
    """What a model is shown: the benchmark's images (``ablation`` None) or a blind ablation's stand-ins
    (answering/blind.py): image_id → file and image_id → md5, as ``Benchmark.image_index``."""

    files: dict[str, Path]
    md5: dict[str, str]
    ablation: str | None = None


def shown_images(bench, ablation: str | None, cache_dir: str | Path) -> ShownImages:
    files, md5 = bench.image_index()
    if ablation in (None, NO_IMAGE):
        return ShownImages(files, md5, ablation)
    if ablation != NEUTRAL_IMAGE:
        raise ValueError(f"unknown blind ablation {ablation!r}; known: {', '.join(ABLATIONS)}")
    return ShownImages(*neutral_images(files, Path(cache_dir) / "neutral_images"), ablation)


def _contrastive(spec, bench, questions, model, cache_dir, batch_size, on_batch, images) -> list[np.ndarray]:
    if images.ablation == NO_IMAGE:
        raise ValueError(f"model {spec.name!r}: a contrastive model cannot answer without an image (blind: "
                         f"{NO_IMAGE}); use {NEUTRAL_IMAGE}")
    return contrastive_scores(questions, images.files, images.md5, model, cache_dir, batch_size, on_batch)


def _random(spec, bench, questions, model, cache_dir, batch_size, on_batch, images) -> list[np.ndarray]:
    return random_baseline_scores(questions, spec.seed)


def _generative(spec, bench, questions, model, cache_dir, batch_size, on_batch, images) -> pd.DataFrame:
    if images.ablation is not None:  # its own response folder: a default run never compacts a blind one's cache
        cache_dir = Path(cache_dir) / "blind" / images.ablation
    return generative_answers(spec, questions, images.files, images.md5, model, cache_dir, batch_size, on_batch,
                              protocol=protocol_of(bench.manifest), without_images=images.ablation == NO_IMAGE)


def _prior(spec, bench, questions, model, cache_dir, batch_size, on_batch, images) -> pd.DataFrame:
    answers = prior_answers(bench.questions, bench.images.set_index("image_id")["split"], questions, spec.seed)
    table = pd.DataFrame({"prediction": answers.predictions, "scores": [s.tolist() for s in answers.scores]})
    table["correct"] = table["prediction"].to_numpy() == questions["answer_idx"].to_numpy()
    for column in GENERATIVE_COLUMNS:
        table[column] = None
    return table


# How each kind of model answers a subset's questions (the kind comes from the family, models/spec.py).
ANSWERERS = {"random": _random, "prior": _prior, "contrastive": _contrastive, "generative": _generative}


def model_provenance(spec, manifest: dict, ablation: str | None = None) -> Provenance:
    """The provenance columns of every prediction row ``spec`` writes on the benchmark of ``manifest``; a blind
    run's prompt version names its ablation."""
    import json

    from mubench.provenance import CAPTION_PARSER_VERSION, CAPTION_PROMPT_VERSION, mubench_version

    protocol = protocol_of(manifest)
    generative = spec.kind == "generative"
    prompt_version = f"{protocol.prompt_version}:{spec.scoring}" if generative else CAPTION_PROMPT_VERSION
    return Provenance(
        model_id=spec.source_id,
        model_revision=spec.weights_revision,
        model_fingerprint=spec.fingerprint,
        benchmark_source=manifest["source"],
        benchmark_revision=json.dumps(manifest.get("revision", ""), sort_keys=True),
        prompt_version=prompt_version if ablation is None else f"{prompt_version}|blind:{ablation}",
        parser_version=(f"{protocol.parser_version}:{protocol.rule(spec.matching)}" if generative
                        else CAPTION_PARSER_VERSION),
        seed=spec.seed,
        mubench_version=mubench_version(),
    )


def predict_subset(
    spec,
    benchmark_root: str | Path,
    subset: str,
    *,
    cache_dir: str | Path,
    batch_size: int,
    device: str = "auto",
    model=None,
    on_batch: Callable[[], None] | None = None,
    full_image_check: bool = False,
    ablation: str | None = None,
) -> pd.DataFrame:
    """All questions of ``subset`` answered by the model ``spec`` (a ModelSpec), with provenance columns.

    ``model`` is the loaded adapter; when None it is built from the registry (tests and benchmarks pass one).
    Contrastive models skip questions without a caption set (see ``subset_questions``). ``ablation``: a blind run
    (answering/blind.py ABLATIONS), the image taken away.
    """
    bench = verified_benchmark(spec, benchmark_root, full_image_check)
    if model is None:
        model = load_for(spec, device)
    images = shown_images(bench, ablation, cache_dir)
    return _answer_subset(spec, bench, subset, model, cache_dir, batch_size, on_batch, images)


def predict_subsets(
    spec, benchmark_root: str | Path, subsets: Sequence[str], *, cache_dir: str | Path, batch_size: int,
    device: str = "auto", model=None, full_image_check: bool = False, ablation: str | None = None,
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Every subset answered by one loaded model (weights are loaded once per job), plus the model's facts.

    Returns subset → prediction table, and ``model_info`` (parameter count measured on the loaded model).
    ``ablation``: a blind run (answering/blind.py ABLATIONS), every image taken away."""
    bench = verified_benchmark(spec, benchmark_root, full_image_check)
    if model is None:
        model = load_for(spec, device)
    images = shown_images(bench, ablation, cache_dir)
    if spec.kind != "generative":
        tables = {subset: _answer_subset(spec, bench, subset, model, cache_dir, batch_size, None, images)
                  for subset in subsets}
        return tables, model_info(spec, model)
    # One pass over every subset's questions, so an image's coarse and fine questions share one prefilled prefix
    # (models/prefix_reuse.py); the answer table, in question order, is then cut back into its subsets.
    questions = {subset: subset_questions(bench, spec, subset) for subset in subsets}
    for subset, part in questions.items():
        log.info("model %s, subset %s: %d questions", spec.name, subset, len(part))
    answers = _generative(spec, bench, pd.concat(questions.values(), ignore_index=True), model, cache_dir,
                          batch_size, None, images)
    provenance, tables, start = model_provenance(spec, bench.manifest, ablation), {}, 0
    for subset, part in questions.items():
        scores = answers.iloc[start:start + len(part)].reset_index(drop=True)
        tables[subset], start = prediction_table(part, scores, spec.name, provenance), start + len(part)
    return tables, model_info(spec, model)


def verified_benchmark(spec, benchmark_root: str | Path, full_image_check: bool):
    """The prepared benchmark, its image files checked first (``full_image_check``: md5 of every file) for a
    model that reads images: the caches trust the md5 recorded at build time."""
    from mubench.benchmark.tables import Benchmark

    bench = Benchmark(Path(benchmark_root))
    if not spec.is_baseline:  # the baselines never read an image
        bench.verify_images(full=full_image_check)
    return bench


def _answer_subset(spec, bench, subset: str, model, cache_dir, batch_size: int, on_batch,
                   images: ShownImages) -> pd.DataFrame:
    questions = subset_questions(bench, spec, subset)
    log.info("model %s, subset %s: %d questions%s", spec.name, subset, len(questions),
             f" (blind: {images.ablation})" if images.ablation else "")
    scores = ANSWERERS[spec.kind](spec, bench, questions, model, cache_dir, batch_size, on_batch, images)
    return prediction_table(questions, scores, spec.name, model_provenance(spec, bench.manifest, images.ablation))
