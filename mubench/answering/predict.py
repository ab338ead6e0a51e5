"""Predictions for one (model, subset): each image encoded once, each distinct text encoded once (DESIGN §4).

The authors' code re-encoded an image and its option captions for every question; the scores are identical
when each unique image and text is encoded once and every question is scored from the cached embeddings.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from mubench.benchmark.tables import IMAGE_ATTRIBUTES, load_image
from mubench.answering.embedding_cache import EmbeddingCache
from mubench.answering.generative import GENERATIVE_COLUMNS, generative_answers
from mubench.answering.prefetch import prefetched
from mubench.answering.prompting import protocol_of
from mubench.io import text_key
from mubench.models.base import ContrastiveModel
from mubench.models.random_baseline import random_scores
from mubench.provenance import Provenance

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = [
    "question_id", "image_id", "subset", "question_type", "dataset", *IMAGE_ATTRIBUTES, "model",
    "prediction", "answer_idx", "correct", "scores",
] + GENERATIVE_COLUMNS  # response and every matching rule's reading; null for contrastive/random rows


def option_texts(question: str, subset: str, options: Sequence[str], captions: Sequence[str]) -> list[str]:
    """What a contrastive model compares the image with: the caption per option, or question + option."""
    if subset == "cognition":
        return [f"{question} {option}" for option in options]
    return list(captions)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def encode_cached(
    keys: Sequence[str],
    load: Callable[[str], object],
    encode: Callable[[list], np.ndarray],
    cache: EmbeddingCache,
    batch_size: int,
    desc: str,
    on_batch: Callable[[], None] | None = None,
) -> np.ndarray:
    """Encode the keys the cache lacks, one atomically saved batch at a time; return all keys' vectors.

    The next batches are loaded (images decoded) in a background thread while the model encodes this one.
    """
    todo = cache.missing(keys)
    log.info("%s: %d unique, %d cached, %d to encode", desc, len(set(keys)), len(set(keys)) - len(todo), len(todo))
    batches = [todo[start:start + batch_size] for start in range(0, len(todo), batch_size)]
    loaded = prefetched(batches, lambda batch: [load(k) for k in batch])
    for batch, items in tqdm(loaded, total=len(batches), desc=desc, unit="batch", mininterval=5):
        cache.add(batch, encode(items))
        if on_batch is not None:
            on_batch()
    return cache.matrix(keys)


def contrastive_scores(
    questions: pd.DataFrame,
    image_files: dict[str, Path],
    image_md5: dict[str, str],
    model: ContrastiveModel,
    cache_dir: str | Path,
    batch_size: int,
    on_batch: Callable[[], None] | None = None,
) -> list[np.ndarray]:
    """Softmax over the option similarities of each question (the paper's contrastive protocol)."""
    cache_dir = Path(cache_dir)
    texts_per_question = [
        option_texts(q.question, q.subset, q.options, q.captions) for q in questions.itertuples()
    ]
    unique_texts = list(dict.fromkeys(t for texts in texts_per_question for t in texts))
    text_by_key = {text_key(t): t for t in unique_texts}
    text_vectors = encode_cached(
        list(text_by_key), text_by_key.__getitem__, model.encode_texts,
        EmbeddingCache(cache_dir / "texts"), batch_size, "texts", on_batch,
    )
    text_row = {key: i for i, key in enumerate(text_by_key)}

    missing = sorted(set(questions["image_id"]) - set(image_files))
    if missing:
        raise KeyError(f"{len(missing)} questions refer to images absent from images.parquet, e.g. {missing[:3]}")
    file_by_md5 = {image_md5[i]: image_files[i] for i in dict.fromkeys(questions["image_id"])}
    image_vectors = encode_cached(
        list(file_by_md5), lambda md5: load_image(file_by_md5[md5]), model.encode_images,
        EmbeddingCache(cache_dir / "images"), batch_size, "images", on_batch,
    )
    image_row = {md5: i for i, md5 in enumerate(file_by_md5)}

    scores = []
    for q, texts in zip(questions.itertuples(), texts_per_question):
        img = image_vectors[image_row[image_md5[q.image_id]]]
        txt = text_vectors[[text_row[text_key(t)] for t in texts]]
        scores.append(softmax(model.logit_scale * (txt @ img)))
    return scores


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


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _contrastive(spec, bench, questions, model, cache_dir, batch_size, on_batch) -> list[np.ndarray]:
    return contrastive_scores(questions, *bench.image_index(), model, cache_dir, batch_size, on_batch)


def _random(spec, bench, questions, model, cache_dir, batch_size, on_batch) -> list[np.ndarray]:
    return random_baseline_scores(questions, spec.seed)


def _generative(spec, bench, questions, model, cache_dir, batch_size, on_batch) -> pd.DataFrame:
    return generative_answers(spec, questions, *bench.image_index(), model, cache_dir, batch_size, on_batch,
                              protocol=protocol_of(bench.manifest))


# How each kind of model answers a subset's questions (the kind comes from the family, models/spec.py).
ANSWERERS = {"random": _random, "contrastive": _contrastive, "generative": _generative}


def answerable(spec, questions: pd.DataFrame) -> pd.DataFrame:
    """The questions the model can be asked: a model that takes one image skips questions with several (MicroVQA),
    counted and named in the log; they are absent from its predictions, so its ``n`` is smaller."""
    several = questions["extra_image_ids"].map(len) > 0
    if spec.takes_several_images or not several.any():
        return questions
    skipped = questions.loc[several, "question_id"]
    log.warning("model %s takes one image per question: skipping %d of %d questions that have several (e.g. %s)",
                spec.name, len(skipped), len(questions), list(skipped[:3]))
    return questions[~several].reset_index(drop=True)


def has_captions(questions: pd.DataFrame) -> pd.Series:
    """Questions a contrastive model can score: cognition (question + option) or a non-empty caption set."""
    return (questions["subset"] == "cognition") | (questions["captions"].map(len) > 0)


def subset_questions(bench, spec, subset: str) -> pd.DataFrame:
    """The questions of ``subset`` that ``spec`` answers, with their image's attributes (IMAGE_ATTRIBUTES).

    Questions with several images are skipped by one-image models (``answerable``); contrastive models also skip
    questions without a caption set (logged); generative models and Random answer the rest.
    """
    questions = bench.questions
    questions = answerable(spec, questions[questions["subset"] == subset].reset_index(drop=True))
    attributes = bench.images.set_index("image_id")[list(IMAGE_ATTRIBUTES)]
    missing = sorted(set(questions["image_id"]) - set(attributes.index))
    if missing:
        raise KeyError(f"{len(missing)} {subset} questions refer to images absent from images.parquet, "
                       f"e.g. {missing[:3]}")
    questions = questions.join(attributes, on="image_id")
    if spec.kind == "contrastive":
        scorable = has_captions(questions)
        if not scorable.all():
            log.info("model %s, subset %s: %d questions have no caption set; contrastive models skip them",
                     spec.name, subset, int((~scorable).sum()))
        questions = questions[scorable].reset_index(drop=True)
    return questions


def model_provenance(spec, manifest: dict) -> Provenance:
    """The provenance columns of every prediction row ``spec`` writes on the benchmark of ``manifest``."""
    import json

    from mubench.provenance import CAPTION_PARSER_VERSION, CAPTION_PROMPT_VERSION, mubench_version

    protocol = protocol_of(manifest)
    generative = spec.kind == "generative"
    return Provenance(
        model_id=spec.source_id,
        model_revision=spec.weights_revision,
        model_fingerprint=spec.fingerprint,
        benchmark_source=manifest["source"],
        benchmark_revision=json.dumps(manifest.get("revision", ""), sort_keys=True),
        prompt_version=f"{protocol.prompt_version}:{spec.scoring}" if generative else CAPTION_PROMPT_VERSION,
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
) -> pd.DataFrame:
    """All questions of ``subset`` answered by the model ``spec`` (a ModelSpec), with provenance columns.

    ``model`` is the loaded adapter; when None it is built from the registry (tests and benchmarks pass one).
    Contrastive models skip questions without a caption set (see ``subset_questions``).
    """
    bench = verified_benchmark(spec, benchmark_root, full_image_check)
    if model is None:
        model = load_for(spec, device)
    return _answer_subset(spec, bench, subset, model, cache_dir, batch_size, on_batch)


def predict_subsets(
    spec, benchmark_root: str | Path, subsets: Sequence[str], *, cache_dir: str | Path, batch_size: int,
    device: str = "auto", model=None, full_image_check: bool = False,
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Every subset answered by one loaded model (weights are loaded once per job), plus the model's facts.

    Returns subset → prediction table, and ``model_info`` (parameter count measured on the loaded model)."""
    bench = verified_benchmark(spec, benchmark_root, full_image_check)
    if model is None:
        model = load_for(spec, device)
    if spec.kind != "generative":
        tables = {subset: _answer_subset(spec, bench, subset, model, cache_dir, batch_size, None)
                  for subset in subsets}
        return tables, model_info(spec, model)
    # One pass over every subset's questions, so an image's coarse and fine questions share one prefilled prefix
    # (models/prefix_reuse.py); the answer table, in question order, is then cut back into its subsets.
    questions = {subset: subset_questions(bench, spec, subset) for subset in subsets}
    for subset, part in questions.items():
        log.info("model %s, subset %s: %d questions", spec.name, subset, len(part))
    answers = _generative(spec, bench, pd.concat(questions.values(), ignore_index=True), model, cache_dir,
                          batch_size, None)
    provenance, tables, start = model_provenance(spec, bench.manifest), {}, 0
    for subset, part in questions.items():
        scores = answers.iloc[start:start + len(part)].reset_index(drop=True)
        tables[subset], start = prediction_table(part, scores, spec.name, provenance), start + len(part)
    return tables, model_info(spec, model)


def verified_benchmark(spec, benchmark_root: str | Path, full_image_check: bool):
    """The prepared benchmark, its image files checked first (``full_image_check``: md5 of every file) for a
    model that reads images: the caches trust the md5 recorded at build time."""
    from mubench.benchmark.tables import Benchmark

    bench = Benchmark(Path(benchmark_root))
    if spec.kind != "random":  # the random baseline never reads an image
        bench.verify_images(full=full_image_check)
    return bench


def load_for(spec, device: str):
    """The family's adapter on the resolved device; None for the random baseline, which has no model."""
    from mubench.models import FAMILIES, load_model

    if spec.kind == "random":
        return None
    return load_model(spec, device=resolve_device(device) if FAMILIES[spec.family].uses_torch else "cpu")


def model_info(spec, model) -> dict:
    """What Table 21 reports: family, checkpoint, revision and the parameter count of the loaded weights."""
    module = getattr(model, "model", None)
    parameters = getattr(module, "parameters", None)
    return {
        "name": spec.name,
        "label": spec.label,
        "family": spec.family,
        "kind": spec.kind,
        "source_id": spec.source_id,
        "revision": spec.weights_revision,
        "fingerprint": spec.fingerprint,
        "model_class": type(module).__name__ if module is not None else None,
        "n_parameters": int(sum(p.numel() for p in parameters())) if callable(parameters) else None,
    }


def _answer_subset(spec, bench, subset: str, model, cache_dir, batch_size: int, on_batch) -> pd.DataFrame:
    questions = subset_questions(bench, spec, subset)
    log.info("model %s, subset %s: %d questions", spec.name, subset, len(questions))
    scores = ANSWERERS[spec.kind](spec, bench, questions, model, cache_dir, batch_size, on_batch)
    return prediction_table(questions, scores, spec.name, model_provenance(spec, bench.manifest))
