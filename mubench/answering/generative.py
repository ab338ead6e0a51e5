"""Generative answering: the benchmark's prompt per question, a resumable response cache, all matching rules.

Each question is asked with all of its images (MicroVQA questions may have several). Every response is cached
under a key made of the model fingerprint, the prompt version, the scoring mode, the content of every image and
the exact prompt, so a rerun (or a killed job) never asks the model twice and a changed model or prompt never
reuses an old answer. The prediction rows carry the raw response and the reading of each of the protocol's rules
(other protocols' rule columns stay null); ``correct`` follows the model's configured ``matching`` rule where the
protocol has it, else the protocol's own rule.

Questions are asked image by image: all open questions of an image (of the same images, for multi-image
questions) go into the same batch, so a model that reuses the image's prefix sees them together; images in the
order of their longest prompt (batches of similar length pad little); and the next batch is loaded in a
background thread while the model answers the current one. ``questions`` may hold several subsets: each keeps
its own cache folder, and asking them in one call lets an image's coarse and fine questions share one prefix.
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

from mubench.benchmark.tables import load_image, question_images, warn_line_breaks
from mubench.io import atomic_write, set_aside
from mubench.answering.prefetch import prefetched
from mubench.answering.prompting import DEFAULT_PROTOCOL, PROTOCOLS, RULES, Protocol, match_all, microvqa_bad_response

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


def _read_answers(chunk: Path) -> dict[str, dict]:
    answers = json.loads(chunk.read_text(encoding="utf-8"))
    if not isinstance(answers, dict) or not all(
            isinstance(a, dict) and isinstance(a.get("response"), str) and "scores" in a for a in answers.values()):
        raise ValueError("not a {key: {response, scores}} mapping")
    return answers


class ResponseCache:
    """JSON chunks of {key: {"response", "scores"}}; each finished batch is written atomically.

    A chunk that cannot be read is moved aside as ``<name>.unreadable`` (kept: it may hold paid-for answers),
    logged and counted in ``set_aside``; its questions are asked again."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.answers: dict[str, dict] = {}
        self.set_aside: list[Path] = []
        for chunk in sorted(self.folder.glob("*.json")):
            try:
                self.answers.update(_read_answers(chunk))
            except (OSError, ValueError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                aside = set_aside(chunk, err)
                self.set_aside.append(aside)
                log.warning("response cache chunk %s is unreadable (%s: %s): moved to %s; its questions are "
                            "asked again", chunk, type(err).__name__, err, aside.name)
        if self.set_aside:
            log.warning("%s: %d unreadable chunk(s) set aside", self.folder, len(self.set_aside))

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
    for q in questions.itertuples():
        protocol.check_addressable(q.question_id, len(q.options))
    warn_line_breaks(questions, protocol.name, f"model {spec.name}")
    prompts = [protocol.build_prompt(q.question, q.options) for q in questions.itertuples()]
    image_ids = [question_images(q) for q in questions.itertuples()]
    keys = [answer_key(spec.fingerprint, spec.scoring, [image_md5[i] for i in ids], p, protocol.prompt_version)
            for ids, p in zip(image_ids, prompts)]
    subsets = questions["subset"].astype(str).tolist()
    caches = {s: ResponseCache(Path(cache_dir) / "responses" / s) for s in dict.fromkeys(subsets)}
    slots = list(zip(subsets, keys))  # a subset's cache folder and the answer's key in it
    first_row = {slot: row for row, slot in reversed(list(enumerate(slots)))}
    cached = lambda row: keys[row] in caches[subsets[row]].answers  # noqa: E731
    todo = [first_row[slot] for slot in dict.fromkeys(slots) if not cached(first_row[slot])]
    log.info("%d questions, %d distinct prompts, %d cached, %d to ask",
             len(keys), len(first_row), len(first_row) - len(todo), len(todo))
    batches = image_batches(todo, [tuple(image_md5[i] for i in image_ids[r]) for r in todo],
                            [len(prompts[r]) for r in todo], batch_size)
    split = hasattr(model, "prepare") and hasattr(model, "answer")

    def load(rows: list[int]):
        """Decode each image of the batch once (and run the model's host-side preparation when it has one)."""
        decoded = {i: load_image(image_files[i]) for i in dict.fromkeys(i for r in rows for i in image_ids[r])}
        images, batch_prompts = [[decoded[i] for i in image_ids[r]] for r in rows], [prompts[r] for r in rows]
        return model.prepare(images, batch_prompts) if split else (images, batch_prompts)

    asked, cut = 0, []  # cut: (question, length) of responses longer than max_response_chars
    for rows, loaded in prefetched(batches, load):
        n_options = [len(questions.at[r, "options"]) for r in rows]
        answers = model.answer(loaded, n_options) if split else model.generate(*loaded, n_options)
        for pos, response, scores in answers:
            if len(response) > spec.max_response_chars:
                cut.append((questions.at[rows[pos], "question_id"], len(response)))
                response = response[:spec.max_response_chars]
            caches[subsets[rows[pos]]].add({keys[rows[pos]]: {"response": response, "scores": scores}})
        asked += len(rows)
        log.info("asked %d/%d", asked, len(todo))
        if on_batch is not None:
            on_batch()
    if cut:
        _log_cut(spec, cut, "before it was stored")
    if hasattr(model, "stats"):
        log.info("model %s so far: %s", spec.name, model.stats.summary())
    for cache in caches.values():
        cache.compact()
    unanswered = sorted({questions.at[first_row[slot], "question_id"] for row, slot in enumerate(slots)
                         if not cached(row)})
    if unanswered:
        raise GenerationError(
            f"model {spec.name!r}: {len(unanswered)} questions got no response (e.g. {unanswered[:3]}; see the log "
            "for the errors). Every answered question is cached: rerun the job to ask only the missing ones."
        )
    return _answer_table(spec, questions, [caches[subsets[row]].answers[k] for row, k in enumerate(keys)], protocol)


def image_batches(rows: Sequence[int], image_keys: Sequence, prompt_lengths: Sequence[int],
                  batch_size: int) -> list[list[int]]:
    """Rows grouped by image (first appearance order), images sorted by their longest prompt (stable), packed
    into batches of at most ``batch_size`` rows without splitting an image unless it alone has more."""
    by_image: dict = {}
    for row, key, length in zip(rows, image_keys, prompt_lengths):
        by_image.setdefault(key, []).append((row, length))
    groups = sorted(by_image.values(), key=lambda members: max(length for _, length in members))
    batches: list[list[int]] = []
    for members in groups:
        group = [row for row, _ in members]
        if batches and len(batches[-1]) + len(group) <= batch_size:
            batches[-1].extend(group)
            continue
        batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]
    return batches


def _log_cut(spec, cut: list[tuple[str, int]], when: str) -> None:
    examples = ", ".join(f"{question} ({length} characters)" for question, length in cut[:3])
    log.warning("model %s: %d responses longer than max_response_chars (%d) were cut to it %s, e.g. %s",
                spec.name, len(cut), spec.max_response_chars, when, examples)


def _answer_table(spec, questions: pd.DataFrame, answers: list[dict], protocol: Protocol) -> pd.DataFrame:
    cap = spec.max_response_chars
    cut = [(q, len(a["response"])) for q, a in zip(questions["question_id"], answers) if len(a["response"]) > cap]
    if cut:  # cached before the cap was set or lowered
        _log_cut(spec, cut, "in the prediction table (the cache holds them longer)")
        answers = [dict(a, response=a["response"][:cap]) for a in answers]
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
                n_bad_microvqa_scorer=(int(group["response"].map(microvqa_bad_response).sum())
                                       if rule == "microvqa" else None),
            ))
    return pd.DataFrame(out, columns=["model", "subset", "rule", "n", "n_correct", "accuracy",
                                      "n_unparseable", "unparseable_rate", "n_bad_microvqa_scorer"])
