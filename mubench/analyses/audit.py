"""Question audit: one row per question, flagging the questions on which a score says less than it seems to.

Each flag has one rule (FLAG_RULES, printed in the report) and is left empty where it cannot apply, with the
reason (``not_applicable``):
- answerable without the image: answered correctly by more than half of the models run blind (their first
  ablation), when at least ``min_blind_models`` models were;
- option bias: the gold option is the longest option (strictly longer than every other), or "none of the above",
  in a question type where that happens more often than chance — one-sided exact test against the chance
  expectation (each question: 1/number of options when the cue exists), Holm-corrected over the tests;
- near-duplicate images across the split (train vs val/test) or across datasets: the image's 64-bit pHash is
  within the pHash threshold of an image of another split / dataset (the hashes rule phash computed);
- contradicting labels: the gold answers of an image's coarse questions disagree with the taxonomy
  (mubench/resources/taxonomy.yaml), e.g. a stain the taxonomy puts under another modality.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom

from mubench.analyses.phash import hamming_matrix
from mubench.benchmark.tables import NONE_OF_THE_ABOVE
from mubench.multiplicity import holm
from mubench.resources import taxonomy

FLAGS = ["answerable_blind", "gold_longest", "gold_none", "duplicate_cross_split", "duplicate_cross_dataset",
         "label_conflict"]
FLAG_RULES = {
    "answerable_blind": "answered correctly without the image by more than half of the models run blind (each "
                        "model's first blind ablation), when at least {min_blind_models} models were",
    "gold_longest": "the gold option is the longest (strictly longer than every other option), in a question type "
                    "whose gold is the longest more often than chance (one-sided exact test, Holm over the "
                    "option-bias tests, p < {alpha})",
    "gold_none": "the gold option is \"none of the above\", in a question type whose gold is \"none of the above\" "
                 "more often than chance (one-sided exact test, Holm over the option-bias tests, p < {alpha})",
    "duplicate_cross_split": "the image has a perceptual near-duplicate (64-bit pHash within {threshold} bits) in "
                             "another split (train, val, test)",
    "duplicate_cross_dataset": "the image has a perceptual near-duplicate (64-bit pHash within {threshold} bits) in "
                               "another dataset",
    "label_conflict": "the gold answers of the image's coarse questions contradict the taxonomy (a submodality or "
                      "stain the taxonomy puts under another modality, a subdomain under another domain)",
}
NONE_OPTIONS = frozenset({NONE_OF_THE_ABOVE, "none of these"})
# (parent question type, child question type, taxonomy tree)
TAXONOMY_PAIRS = (("modality", "submodality", "modality_submodality"), ("modality", "stain", "modality_stain"),
                  ("domain", "subdomain", "domain_subdomain"))
BIAS_COLUMNS = ["cue", "question_type", "n_questions", "n_with_cue", "observed", "expected", "p", "p_holm",
                "biased"]


@dataclass(frozen=True, kw_only=True)
class AuditSettings:
    min_blind_models: int  # fewer models run blind: "answerable without the image" cannot apply
    alpha: float  # option-bias tests (Holm-corrected)
    phash_threshold: int | None  # None: no pHash hashes, the near-duplicate flags cannot apply

    def rules(self) -> dict[str, str]:
        values = dict(min_blind_models=self.min_blind_models, alpha=self.alpha, threshold=self.phash_threshold)
        return {flag: rule.format(**values) for flag, rule in FLAG_RULES.items()}


def _normal(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def blind_votes(blind: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per question: how many models answered it blind (``blind``: model → its first ablation's prediction rows)
    and how many of them correctly."""
    parts = [rows[["question_id", "correct"]].assign(correct=lambda r: r["correct"].astype(bool))
             for rows in blind.values()]
    if not parts:
        return pd.DataFrame(columns=["question_id", "n_blind_models", "n_blind_correct"])
    votes = pd.concat(parts).groupby("question_id")["correct"].agg(n_blind_models="size", n_blind_correct="sum")
    return votes.reset_index()


def option_cues(questions: pd.DataFrame) -> pd.DataFrame:
    """Per question: whether the gold option is the strictly longest / "none of the above", and each cue's chance
    probability (1/number of options where the question has such an option, else 0)."""
    rows = []
    for q in questions.itertuples():
        lengths = np.array([len(str(o).strip()) for o in q.options])
        longest = np.flatnonzero(lengths == lengths.max())
        unique_longest = len(longest) == 1
        none = [_normal(o) in NONE_OPTIONS for o in q.options]
        n = len(q.options)
        rows.append(dict(question_id=q.question_id, gold_is_longest=unique_longest and longest[0] == q.answer_idx,
                         chance_longest=1 / n if unique_longest else 0.0,
                         gold_is_none=bool(none[q.answer_idx]), chance_none=sum(none) / n))
    return pd.DataFrame(rows, columns=["question_id", "gold_is_longest", "chance_longest", "gold_is_none",
                                       "chance_none"])


def at_least(probabilities: np.ndarray, observed: int) -> float:
    """P(X ≥ observed) for X a sum of independent Bernoulli(probabilities) (exact: the binomials of equal
    probabilities convolved)."""
    pmf = np.ones(1)
    values, counts = np.unique(np.round(np.asarray(probabilities, dtype=float), 12), return_counts=True)
    for p, n in zip(values, counts):
        if p > 0:
            pmf = np.convolve(pmf, binom.pmf(np.arange(n + 1), n, p))
    return float(min(1.0, pmf[observed:].sum())) if observed < len(pmf) else 0.0


def option_bias(questions: pd.DataFrame, cues: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """BIAS_COLUMNS per (cue, question type): how often the gold is the longest / "none of the above" against the
    chance expectation, the one-sided exact p, Holm over every row, and ``biased`` (p_holm < alpha and above
    chance). A type with no question offering the cue is not tested."""
    joined = questions[["question_id", "question_type"]].merge(cues, on="question_id")
    rows = []
    for cue in ("longest", "none"):
        for qtype, part in joined.groupby("question_type", sort=True):
            chance = part[f"chance_{cue}"].to_numpy()
            observed = int(part[f"gold_is_{cue}"].sum())
            tested = chance.sum() > 0
            rows.append(dict(cue=cue, question_type=qtype, n_questions=len(part), n_with_cue=int((chance > 0).sum()),
                             observed=observed, expected=float(chance.sum()),
                             p=at_least(chance, observed) if tested else np.nan))
    table = pd.DataFrame(rows, columns=BIAS_COLUMNS[:-2])
    table["p_holm"] = holm(table["p"].to_numpy()) if len(table) else []
    table["biased"] = (table["p_holm"] < alpha) & (table["observed"] > table["expected"])
    return table


def near_duplicates(images: pd.DataFrame, hashes: pd.DataFrame, threshold: int, block: int = 1024) -> pd.DataFrame:
    """Per image: the nearest image (pHash Hamming distance) of another split and of another dataset, and whether
    each lies within ``threshold``. ``hashes``: image_id, phash (16 hex digits), as rule phash writes it."""
    frame = images[["image_id", "dataset", "split"]].merge(hashes[["image_id", "phash"]], on="image_id", how="left")
    missing = frame.loc[frame["phash"].isna(), "image_id"]
    if len(missing):
        raise KeyError(f"no pHash for {len(missing)} images (e.g. {list(missing[:3])}): rerun rule phash")
    values = np.array([int(h, 16) for h in frame["phash"]], dtype=np.uint64)
    split = frame["split"].fillna("").astype(str).to_numpy()
    dataset = frame["dataset"].fillna("").astype(str).to_numpy()
    out = {"image_id": frame["image_id"].to_numpy()}
    for name, groups in (("split", split), ("dataset", dataset)):
        partner = np.full(len(values), -1)
        distance = np.full(len(values), 255, dtype=np.uint8)
        for start in range(0, len(values), block):
            rows = groups[start:start + block, None]
            other = (rows != groups[None, :]) & (groups[None, :] != "") & (rows != "")
            d = np.where(other, hamming_matrix(values[start:start + block], values), np.uint8(255))
            partner[start:start + block] = d.argmin(axis=1)
            distance[start:start + block] = d.min(axis=1, initial=255)
        found = distance < 255
        out[f"cross_{name}_partner"] = np.where(found, frame["image_id"].to_numpy()[np.maximum(partner, 0)], None)
        out[f"cross_{name}_distance"] = pd.array([int(d) if f else pd.NA for d, f in zip(distance, found)],
                                                 dtype="Int64")
        out[f"duplicate_cross_{name}"] = found & (distance <= threshold)
    return pd.DataFrame(out)


def label_conflicts(questions: pd.DataFrame) -> pd.Series:
    """question_id → what its image's coarse gold answers contradict in the taxonomy ("" where nothing does).

    Both questions of a contradicting pair are named; a gold "none of the above", or a value the taxonomy does
    not know, is not compared."""
    tax = taxonomy()
    coarse = questions[questions["subset"] == "coarse"]
    gold = {(q.image_id, q.question_type): (_normal(q.options[q.answer_idx]), q.question_id, q.options[q.answer_idx])
            for q in coarse.itertuples()}
    trees = {name: {_normal(parent): {_normal(c) for c in children} for parent, children in tax[name].items()}
             for _, _, name in TAXONOMY_PAIRS}
    found: dict[str, list[str]] = {}
    for image_id in dict.fromkeys(coarse["image_id"]):
        for parent_type, child_type, name in TAXONOMY_PAIRS:
            parent, child = gold.get((image_id, parent_type)), gold.get((image_id, child_type))
            if parent is None or child is None or NONE_OPTIONS & {parent[0], child[0]}:
                continue
            tree = trees[name]
            known = any(child[0] in children for children in tree.values())
            if parent[0] in tree and known and child[0] not in tree[parent[0]]:
                under = [p for p, children in tax[name].items() if child[0] in trees[name][_normal(p)]]
                text = (f"{child_type} {child[2]!r} is under {' / '.join(under)} in the taxonomy, not under "
                        f"{parent_type} {parent[2]!r}")
                for question_id in (parent[1], child[1]):
                    found.setdefault(question_id, []).append(text)
    return pd.Series({q: "; ".join(texts) for q, texts in found.items()}, dtype=object).reindex(
        questions["question_id"]).fillna("")


AUDIT_COLUMNS = [
    "question_id", "image_id", "subset", "question_type", "dataset", "split", "n_options", "gold",
    "n_blind_models", "n_blind_correct", "gold_is_longest", "gold_is_none", "cross_split_partner",
    "cross_split_distance", "cross_dataset_partner", "cross_dataset_distance", "label_conflict",
    *(f"flag_{flag}" for flag in FLAGS), "flags",
]  # fmt: skip


@dataclass(frozen=True)
class Audit:
    questions: pd.DataFrame  # AUDIT_COLUMNS, one row per question; a flag that cannot apply is empty (NA)
    option_bias: pd.DataFrame  # BIAS_COLUMNS
    not_applicable: dict[str, str]  # flag → why it cannot apply to this benchmark and run


def audit_questions(questions: pd.DataFrame, images: pd.DataFrame, *, blind: Mapping[str, pd.DataFrame],
                    hashes: pd.DataFrame | None, settings: AuditSettings) -> Audit:
    """Every flag of every question (``blind``: model → its first blind ablation's prediction rows; ``hashes``:
    the phash rule's table, None when pHash is off)."""
    split = images.set_index("image_id")["split"]
    table = questions[["question_id", "image_id", "subset", "question_type", "dataset"]].copy()
    table["split"] = table["image_id"].map(split)
    table["n_options"] = questions["options"].map(len).to_numpy()
    table["gold"] = [options[answer] for options, answer in zip(questions["options"], questions["answer_idx"])]
    not_applicable: dict[str, str] = {}

    votes = blind_votes(blind).set_index("question_id")
    table["n_blind_models"] = table["question_id"].map(votes["n_blind_models"]).fillna(0).astype(np.int64)
    table["n_blind_correct"] = table["question_id"].map(votes["n_blind_correct"]).fillna(0).astype(np.int64)
    enough = table["n_blind_models"] >= settings.min_blind_models
    flag = pd.array(table["n_blind_correct"] > table["n_blind_models"] / 2, dtype="boolean")
    table["flag_answerable_blind"] = flag.copy()
    table.loc[~enough, "flag_answerable_blind"] = pd.NA
    if not enough.any():
        not_applicable["answerable_blind"] = (
            f"{len(blind)} model(s) answered blind ({', '.join(blind) or 'none'}): the rule needs at least "
            f"{settings.min_blind_models} (config audit.min_blind_models; a model entry's `blind: true`)")

    cues = option_cues(questions).set_index("question_id")
    bias = option_bias(questions, cues.reset_index(), settings.alpha)
    for cue in ("longest", "none"):
        table[f"gold_is_{cue}"] = table["question_id"].map(cues[f"gold_is_{cue}"]).astype(bool)
        biased_types = set(bias.loc[(bias["cue"] == cue) & bias["biased"], "question_type"])
        table[f"flag_gold_{cue}"] = pd.array(table[f"gold_is_{cue}"] & table["question_type"].isin(biased_types),
                                             dtype="boolean")
    if not (cues["chance_none"] > 0).any():
        not_applicable["gold_none"] = "no question offers \"none of the above\""
        table["flag_gold_none"] = pd.NA

    for name in ("split", "dataset"):
        distinct = images[name].dropna().nunique()
        reason = ("pHash is off (config `phash` is null)" if hashes is None
                  else f"every image is in one {name}" if distinct < 2 else None)
        if reason:
            not_applicable[f"duplicate_cross_{name}"] = reason
    duplicates = (near_duplicates(images, hashes, settings.phash_threshold).set_index("image_id")
                  if hashes is not None else None)
    for name in ("split", "dataset"):
        for column in (f"cross_{name}_partner", f"cross_{name}_distance"):
            table[column] = table["image_id"].map(duplicates[column]) if duplicates is not None else None
        applies = f"duplicate_cross_{name}" not in not_applicable
        table[f"flag_duplicate_cross_{name}"] = pd.array(
            table["image_id"].map(duplicates[f"duplicate_cross_{name}"]) if applies else [pd.NA] * len(table),
            dtype="boolean")
    table["cross_split_distance"] = table["cross_split_distance"].astype("Int64")
    table["cross_dataset_distance"] = table["cross_dataset_distance"].astype("Int64")

    table["label_conflict"] = label_conflicts(questions).to_numpy()
    table["flag_label_conflict"] = pd.array(table["label_conflict"] != "", dtype="boolean")
    if not (questions["subset"] == "coarse").any():
        not_applicable["label_conflict"] = "no coarse questions (a cognition-only benchmark)"
        table["flag_label_conflict"] = pd.array([pd.NA] * len(table), dtype="boolean")

    flags = table[[f"flag_{f}" for f in FLAGS]].fillna(False).to_numpy(bool)
    table["flags"] = [";".join(f for f, on in zip(FLAGS, row) if on) for row in flags]
    return Audit(table[AUDIT_COLUMNS].reset_index(drop=True), bias, not_applicable)


SUMMARY_COLUMNS = ["dataset", "n_questions", *FLAGS, "any_flag"]


def audit_summary(audit: Audit) -> pd.DataFrame:
    """Flagged questions per dataset and over all datasets (last row); a flag that cannot apply is empty."""
    table = audit.questions
    rows = []
    for dataset, part in [*table.groupby("dataset", sort=True), ("all datasets", table)]:
        row = {"dataset": dataset, "n_questions": len(part)}
        for flag in FLAGS:
            row[flag] = pd.NA if flag in audit.not_applicable else int(part[f"flag_{flag}"].fillna(False).sum())
        row["any_flag"] = int((part["flags"] != "").sum())
        rows.append(row)
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return summary.astype({flag: "Int64" for flag in FLAGS})
