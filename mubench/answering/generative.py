"""Generative answering: the benchmark's prompt per question, a resumable response cache, all matching rules.

Each question is asked with all of its images (MicroVQA questions may have several). Every response is cached
under a key made of the model fingerprint, the prompt version, the scoring mode, the content of every image and
the exact prompt, so a rerun (or a killed job) never asks the model twice and a changed model or prompt never
reuses an old answer. The prediction rows carry the raw response and the reading of each of the protocol's rules
(other protocols' rule columns stay null); ``correct`` follows the model's configured ``matching`` rule where the
protocol has it, else the protocol's own rule.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from mubench.benchmark.tables import load_image, question_images
from mubench.io import atomic_write
from mubench.answering.prompting import DEFAULT_PROTOCOL, PROTOCOLS, RULES, Protocol, match_all

log = logging.getLogger(__name__)

GENERATIVE_COLUMNS = ["response"] + [f"{kind}_{rule}" for kind in ("parsed", "correct") for rule in RULES]


class GenerativeModel(Protocol):
    def generate(
        self, images: Sequence[Sequence[Image.Image]], prompts: Sequence[str], n_options: Sequence[int]
    ) -> Iterator[tuple[int, str, list[float] | None]]:
        """Yield (position in the batch, response, option scores or None) as each answer is ready.

        ``images[i]`` holds every image of question i, in order (one for most benchmarks).

        A position that is never yielded had no answer (e.g. an API request that kept failing)."""


class GenerationError(RuntimeError):
    """Some questions got no response; the answered ones are cached, so a rerun only retries the rest."""


class ResponseCache:
    """JSON chunks of {key: {"response", "scores"}}; each finished batch is written atomically."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.answers: dict[str, dict] = {}
        for chunk in sorted(self.folder.glob("*.json")):
            try:
                self.answers.update(json.loads(chunk.read_text()))
            except (OSError, ValueError) as err:
                raise RuntimeError(f"response cache chunk {chunk} is unreadable ({err}); delete it to re-ask") from err

    def add(self, answers: dict[str, dict]) -> Path:
        body = json.dumps(answers, sort_keys=True)
        path = self.folder / (hashlib.sha1(body.encode()).hexdigest()[:20] + ".json")
        atomic_write(path, lambda tmp: Path(tmp).write_text(body))
        self.answers.update(answers)
        return path

    def compact(self) -> None:
        """Fold the per-batch chunks into one file (written first, so a crash loses nothing)."""
        chunks = sorted(self.folder.glob("*.json"))
        if len(chunks) < 2:
            return
        keep = self.add(dict(self.answers))
        for chunk in chunks:
            if chunk != keep:
                chunk.unlink()


def answer_key(fingerprint: str, scoring: str, image_md5: Sequence[str], prompt: str,
               prompt_version: str = PROTOCOLS[DEFAULT_PROTOCOL].prompt_version) -> str:
    """The cache key of one question; a single image keys by its md5 alone (keys from before multi-image support)."""
    if isinstance(image_md5, str):
        raise TypeError("answer_key takes the md5 of every image of the question as a list")
    images = "+".join(image_md5)
    return hashlib.sha1(json.dumps([fingerprint, prompt_version, scoring, images, prompt]).encode()).hexdigest()


def generative_answers(
    spec,
    questions: pd.DataFrame,
    image_files: dict[str, Path],
    image_md5: dict[str, str],
    model: GenerativeModel,
    cache_dir: str | Path,
    batch_size: int,
    on_batch: Callable[[], None] | None = None,
    protocol: Protocol = PROTOCOLS[DEFAULT_PROTOCOL],
) -> pd.DataFrame:
    """Per question: prediction (-1 = unparseable), correct, scores, response and every rule's reading."""
    if spec.scoring == "letter_logits" and not protocol.lettered:
        raise ValueError(f"model {spec.name!r}: `scoring: letter_logits` picks an option letter, but this benchmark "
                         f"asks with the {protocol.name} protocol (numbered options, reasoning before the answer); "
                         f"use `scoring: generate`")
    prompts = [protocol.build_prompt(q.question, q.options) for q in questions.itertuples()]
    image_ids = [question_images(q) for q in questions.itertuples()]
    keys = [answer_key(spec.fingerprint, spec.scoring, [image_md5[i] for i in ids], p, protocol.prompt_version)
            for ids, p in zip(image_ids, prompts)]
    first_row = {key: row for row, key in reversed(list(enumerate(keys)))}
    cache = ResponseCache(Path(cache_dir) / "responses" / str(questions["subset"].iloc[0]))
    todo = [first_row[key] for key in dict.fromkeys(keys) if key not in cache.answers]
    log.info("%d questions, %d distinct prompts, %d cached, %d to ask",
             len(keys), len(first_row), len(first_row) - len(todo), len(todo))
    for start in range(0, len(todo), batch_size):
        rows = todo[start:start + batch_size]
        images = [[load_image(image_files[i]) for i in image_ids[r]] for r in rows]
        n_options = [len(questions.at[r, "options"]) for r in rows]
        for pos, response, scores in model.generate(images, [prompts[r] for r in rows], n_options):
            cache.add({keys[rows[pos]]: {"response": response, "scores": scores}})
        log.info("asked %d/%d", min(start + batch_size, len(todo)), len(todo))
        if on_batch is not None:
            on_batch()
    cache.compact()
    unanswered = sorted({questions.at[first_row[k], "question_id"] for k in keys if k not in cache.answers})
    if unanswered:
        raise GenerationError(
            f"model {spec.name!r}: {len(unanswered)} questions got no response (e.g. {unanswered[:3]}; see the log "
            "for the errors). Every answered question is cached: rerun the job to ask only the missing ones."
        )
    return _answer_table(spec, questions, [cache.answers[k] for k in keys], protocol)


def _answer_table(spec, questions: pd.DataFrame, answers: list[dict], protocol: Protocol) -> pd.DataFrame:
    readings = [match_all(a["response"], q.options, q.answer_idx, protocol.rules)
                for a, q in zip(answers, questions.itertuples())]
    table = pd.DataFrame({"response": [a["response"] for a in answers]})
    for rule in RULES:
        known = rule in protocol.rules
        table[f"parsed_{rule}"] = [int(r[rule].parsed_idx) for r in readings] if known else None
        table[f"correct_{rule}"] = [bool(r[rule].correct) for r in readings] if known else None
    reading = protocol.rule(spec.matching)
    if reading != spec.matching:
        log.info("model %s: matching %r is not a rule of the %s protocol; answers are read by %r",
                 spec.name, spec.matching, protocol.name, reading)
    table["prediction"] = table[f"parsed_{reading}"]
    table["correct"] = table[f"correct_{reading}"]
    table["scores"] = [a["scores"] for a in answers]
    failures = {rule: int((table[f"parsed_{rule}"] < 0).sum()) for rule in protocol.rules}
    log.info("model %s: unparseable responses per rule %s of %d; accuracy (%s) %.4f",
             spec.name, failures, len(table), reading, table["correct"].mean() if len(table) else np.nan)
    return table


def matching_sensitivity(predictions: pd.DataFrame) -> pd.DataFrame:
    """Accuracy and unparseable counts under every matching rule that read them, per (model, subset) of
    generative rows."""
    rows = predictions[predictions[[f"parsed_{rule}" for rule in RULES]].notna().any(axis=1)]
    out = []
    for (model, subset), group in rows.groupby(["model", "subset"], sort=True):
        for rule in RULES:
            if group[f"parsed_{rule}"].isna().any():
                continue  # a rule of another protocol
            n_unparseable = int((group[f"parsed_{rule}"] < 0).sum())
            out.append(dict(
                model=model, subset=subset, rule=rule, n=len(group),
                n_correct=int(group[f"correct_{rule}"].astype(bool).sum()),
                accuracy=float(group[f"correct_{rule}"].astype(bool).mean()),
                n_unparseable=n_unparseable, unparseable_rate=n_unparseable / len(group),
            ))
    return pd.DataFrame(out, columns=["model", "subset", "rule", "n", "n_correct", "accuracy",
                                      "n_unparseable", "unparseable_rate"])
