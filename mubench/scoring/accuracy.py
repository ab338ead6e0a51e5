"""Accuracy tables from prediction rows: per type, per dataset, pooled and macro totals, with CIs.

One prediction row is one question, the unit the paper aggregates over. Every group is reduced to
(k correct, n rows) counts first; the row bootstrap then only needs those counts (mubench.scoring.bootstrap).
The image-clustered bootstrap (mubench.scoring.cluster_bootstrap) needs the same counts per image. Both
intervals are always reported, so a reader sees how much the row interval misstates; ``bootstrap.resample``
picks the one that goes into ``ci_low``/``ci_high`` (and Table 1).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, NamedTuple

import numpy as np
import pandas as pd

from mubench.benchmark.tables import IMAGE_ATTRIBUTES
from mubench.scoring.bootstrap import check_settings, in_threads, macro_mean_ci
from mubench.scoring.cluster_bootstrap import resample_images, stratified

SCOPES = ("all", "without_excluded")  # then one "domain=<domain>" scope per domain (the biology/pathology split)
RESAMPLING_UNITS = ("rows", "images")
# What prediction rows say about their image; when present, each is a level (accuracy per modality, stain, ...).
LEVELS = ("total", "question_type", "dataset", "macro_question_type", "macro_dataset", *IMAGE_ATTRIBUTES)
UNKNOWN_ATTRIBUTE = "unknown"  # an image with no value for an attribute (e.g. an expert cognition image)
TABLE_COLUMNS = (
    "model", "subset", "scope", "level", "group",
    "n", "n_correct", "accuracy", "ci_low", "ci_high", "ci_halfwidth",
    "rows_ci_low", "rows_ci_high", "images_ci_low", "images_ci_high",
)  # fmt: skip
_KEYS = ("model", "subset", "question_type", "dataset")


@dataclass(frozen=True, kw_only=True)
class BootstrapSettings:
    """CI settings: config ``bootstrap``, whose schema defaults are what the authors' code ran.

    ``resample`` = the unit resampled for ``ci_low``/``ci_high``: question ``rows`` or ``images`` with all their
    questions (both intervals are always in the table).
    """

    method: str
    confidence: float
    n_resamples: int
    seed: int
    resample: str

    def __post_init__(self) -> None:
        check_settings(self.method, self.confidence, self.n_resamples)
        if self.resample not in RESAMPLING_UNITS:
            raise ValueError(f"bootstrap.resample must be one of {RESAMPLING_UNITS}, got {self.resample!r}")


def accuracy_table(
    predictions: pd.DataFrame,
    *,
    bootstrap: BootstrapSettings,
    excluded_datasets: Iterable[str],
    threads: int = 1,
) -> pd.DataFrame:
    """Long table with TABLE_COLUMNS: one row per (model, subset, scope, level, group).

    ``total`` is the pooled (micro) accuracy over all rows of the subset, the paper's official
    number; ``macro_*`` rows are unweighted means of the question-type or dataset accuracies, with
    ``n``/``n_correct`` summed over their components. Both scopes are always emitted so downstream
    tables keep a fixed shape; a total with no rows left gets NaN accuracy and CI. Accuracies are
    fractions; ``ci_halfwidth`` = ci_high - accuracy is the paper's "±". ``rows_ci_*`` resample
    question rows, ``images_ci_*`` resample images with all their questions; ``ci_low``/``ci_high``
    are the ones ``bootstrap.resample`` names.

    When the rows carry the image attributes (IMAGE_ATTRIBUTES), every scope also gets one level per
    attribute, and each domain gets its own scope ``domain=<domain>`` (lower case) with every level
    restricted to that domain's rows: Table 20 is the ``domain=pathology`` totals. ``threads``: groups resampled
    at once; the table is the same for any number.
    """
    images = _image_counts(predictions)
    pairs = images[["model", "subset"]].drop_duplicates()
    excluded = images["dataset"].isin(set(excluded_datasets))
    groups = _groups(images, pairs, "all") + _groups(images[~excluded], pairs, "without_excluded")
    if "domain" in images.columns:
        domains = images["domain"].str.strip().str.casefold()
        for domain in sorted(set(domains) - {UNKNOWN_ATTRIBUTE}):
            groups += _groups(images[domains == domain], pairs, domain_scope(domain))

    rows_low, rows_high = macro_mean_ci(
        [g.k for g in groups],
        [g.n for g in groups],
        seed=bootstrap.seed,
        method=bootstrap.method,
        confidence=bootstrap.confidence,
        n_resamples=bootstrap.n_resamples,
        threads=threads,
    )
    images_low, images_high = _image_intervals(groups, rows_low, rows_high, bootstrap, threads)
    chosen_low, chosen_high = (rows_low, rows_high) if bootstrap.resample == "rows" else (images_low, images_high)
    table = pd.DataFrame(
        {
            "model": [g.model for g in groups],
            "subset": [g.subset for g in groups],
            "scope": [g.scope for g in groups],
            "level": [g.level for g in groups],
            "group": [g.group for g in groups],
            "n": np.array([sum(g.n) for g in groups], dtype=np.int64),
            "n_correct": np.array([sum(g.k) for g in groups], dtype=np.int64),
            "accuracy": [_mean_accuracy(g.k, g.n) for g in groups],
            "ci_low": chosen_low,
            "ci_high": chosen_high,
            "rows_ci_low": rows_low,
            "rows_ci_high": rows_high,
            "images_ci_low": images_low,
            "images_ci_high": images_high,
        }
    )
    table["ci_halfwidth"] = table["ci_high"] - table["accuracy"]
    return _sorted(table)[list(TABLE_COLUMNS)]


def domain_scope(domain: str) -> str:
    """The scope holding one domain's rows, e.g. ``domain=pathology``."""
    return f"domain={domain.strip().casefold()}"


def _image_counts(predictions: pd.DataFrame) -> pd.DataFrame:
    """(k, n) per (model, subset, question_type, dataset[, attributes], image): every group sums these cells."""
    attributes = [a for a in IMAGE_ATTRIBUTES if a in predictions.columns]
    if attributes and len(attributes) < len(IMAGE_ATTRIBUTES):
        raise ValueError(f"prediction rows carry only some image attributes {attributes}: need all of "
                         f"{list(IMAGE_ATTRIBUTES)} or none")
    predictions = predictions.assign(**{a: predictions[a].fillna(UNKNOWN_ATTRIBUTE) for a in attributes})
    keys = [*_KEYS, *attributes, "image_id"]
    missing = [c for c in (*_KEYS, "image_id", "correct") if c not in predictions.columns]
    if missing:
        raise ValueError(f"prediction rows lack columns {missing}")
    if predictions[[*_KEYS, "image_id"]].isna().any().any():
        raise ValueError(f"prediction rows have missing values in {[*_KEYS, 'image_id']}")
    correct = predictions["correct"]
    if correct.isna().any() or not correct.isin([0, 1]).all():
        raise ValueError("'correct' must be boolean (or 0/1) with no missing values")
    counts = (
        predictions.assign(correct=correct.astype(np.int64))
        .groupby(keys, observed=True)["correct"]
        .agg(n="size", n_correct="sum")
        .reset_index()
        .astype({key: str for key in keys})
    )
    # integer codes for the image bootstrap: selections are integer masks, per-image sums are bincounts
    for column in ["image_id", *_KEYS[2:], *attributes]:
        counts[f"{column}_code"] = pd.factorize(counts[column], sort=True)[0]
    return counts


class _Group(NamedTuple):
    model: str
    subset: str
    scope: str
    level: str
    group: str
    k: list[int]  # correct answers per component (one component unless a macro level)
    n: list[int]  # rows per component
    images: pd.DataFrame  # the (model, subset, scope) cells of _image_counts
    column: str | None = None  # this group's cells are those with column == group (None: all)


def _groups(images: pd.DataFrame, pairs: pd.DataFrame, scope: str) -> list[_Group]:
    """Every group of one scope; (model, subset) pairs with no rows left still get their totals."""
    groups = []
    by_pair = dict(tuple(images.groupby(["model", "subset"], sort=False)))
    for model, subset in pairs.itertuples(index=False):
        pair = by_pair.get((model, subset), images.iloc[:0])
        k_total, n_total = int(pair["n_correct"].sum()), int(pair["n"].sum())
        groups.append(_Group(model, subset, scope, "total", "all", [k_total], [n_total], pair))
        for column in ("question_type", "dataset"):
            counts = pair.groupby(column, sort=True)[["n_correct", "n"]].sum()
            for name, k, n in counts.itertuples():
                groups.append(_Group(model, subset, scope, column, name, [k], [n], pair, column))
            k_parts, n_parts = list(counts["n_correct"]), list(counts["n"])
            groups.append(_Group(model, subset, scope, f"macro_{column}", "all", k_parts, n_parts, pair))
        for column in (a for a in IMAGE_ATTRIBUTES if a in images.columns):
            counts = pair.groupby(column, sort=True)[["n_correct", "n"]].sum()
            groups += [_Group(model, subset, scope, column, name, [k], [n], pair, column)
                       for name, k, n in counts.itertuples()]
    return groups


def _image_intervals(
    groups: list[_Group], rows_low: np.ndarray, rows_high: np.ndarray, bootstrap: BootstrapSettings, threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """Image-clustered (low, high) per group.

    Where every image adds one question to the group (fine and cognition, any single question type), resampling
    images is resampling rows: the row interval is reused, identical. Otherwise a group's images are resampled
    with a seed from their counts (resample_images): the same images in two groups (a dataset in ``all`` and
    ``without_excluded``, a subset's total and its only dataset) are resampled once and get one interval.
    ``macro_dataset`` resamples each dataset separately (an image belongs to one dataset) and averages those
    resamples; ``macro_question_type`` resamples images jointly, since an image's questions span the types.
    """
    low, high = np.full(len(groups), np.nan), np.full(len(groups), np.nan)
    pair_cells: dict[int, tuple[_Cells, int]] = {}  # id of a (model, subset, scope) frame → its arrays, max/image
    counts: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}  # per-image (k, n) of each distinct resampling
    resampled: dict[int, list[bytes]] = {}  # group → the resamplings it averages (one unless macro_dataset)

    def key(cells: _Cells, by_type: bool) -> bytes:
        k, n = cells.per_image(by_type=by_type)
        digest = hashlib.sha256(repr(k.shape).encode() + k.tobytes() + n.tobytes()).digest()
        counts.setdefault(digest, (k, n))
        return digest

    for i, g in enumerate(groups):
        if not g.n or 0 in g.n:
            continue
        if id(g.images) not in pair_cells:
            cells = _Cells.of(g.images)
            pair_cells[id(g.images)] = cells, cells.max_per_image()
        cells, most = pair_cells[id(g.images)]
        if most > 1 and g.column is not None:
            cells = cells.where(cells.codes[g.column] == cells.code(g.column, g.group))
            most = cells.max_per_image()
        if most == 1:
            low[i], high[i] = rows_low[i], rows_high[i]
        elif g.level == "macro_dataset":
            resampled[i] = [key(cells.where(cells.codes["dataset"] == code), by_type=False)
                            for code in np.unique(cells.codes["dataset"])]
        else:
            resampled[i] = [key(cells, by_type=g.level == "macro_question_type")]

    draws = dict(zip(counts, in_threads(
        lambda kn: resample_images(*kn, seed=bootstrap.seed, n_resamples=bootstrap.n_resamples),
        list(counts.values()), threads)))
    for i, keys in resampled.items():
        result = stratified([draws[k] for k in keys]) if groups[i].level == "macro_dataset" else draws[keys[0]]
        low[i], high[i] = result.ci(bootstrap.method, bootstrap.confidence)
    return low, high


class _Cells(NamedTuple):
    """Cells of _image_counts as integer arrays (string columns are slow to filter at 10⁵ rows)."""

    image: np.ndarray
    n: np.ndarray
    k: np.ndarray
    codes: dict[str, np.ndarray]  # question_type, dataset and the attributes, as integer codes
    names: dict[str, dict[int, str]]  # column → code → name

    @classmethod
    def of(cls, cells: pd.DataFrame) -> _Cells:
        columns = [c.removesuffix("_code") for c in cells.columns if c.endswith("_code") and c != "image_id_code"]
        firsts = {c: cells[[f"{c}_code", c]].drop_duplicates(f"{c}_code") for c in columns}
        names = {c: dict(zip(first[f"{c}_code"].tolist(), first[c].tolist())) for c, first in firsts.items()}
        return cls(cells["image_id_code"].to_numpy(), cells["n"].to_numpy(), cells["n_correct"].to_numpy(),
                   {c: cells[f"{c}_code"].to_numpy() for c in columns}, names)

    def where(self, mask: np.ndarray) -> _Cells:
        return _Cells(self.image[mask], self.n[mask], self.k[mask], {c: a[mask] for c, a in self.codes.items()},
                      self.names)

    def code(self, column: str, name: str) -> int:
        return next(code for code, value in self.names[column].items() if value == name)

    def max_per_image(self) -> int:
        return int(np.bincount(self.image, weights=self.n).max())

    def per_image(self, *, by_type: bool) -> tuple[np.ndarray, np.ndarray]:
        """(k, n) per image: one column, or one column per question type (0 where an image has none)."""
        kind = self.codes["question_type"]
        columns = int(kind.max()) + 1 if by_type else 1
        slot = self.image * columns + (kind if by_type else 0)
        size = (int(self.image.max()) + 1) * columns
        n = np.bincount(slot, weights=self.n, minlength=size).reshape(-1, columns).astype(np.int64)
        k = np.bincount(slot, weights=self.k, minlength=size).reshape(-1, columns).astype(np.int64)
        n, k = n[n.sum(axis=1) > 0], k[n.sum(axis=1) > 0]
        used = n.sum(axis=0) > 0  # only the types this group has
        return k[:, used], n[:, used]


def _mean_accuracy(k: list[int], n: list[int]) -> float:
    """Unweighted mean of the component accuracies; NaN when there is nothing to average."""
    if not n or 0 in n:
        return float("nan")
    return float(np.mean(np.divide(k, n)))


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    order = table.assign(
        _scope=table["scope"].map(lambda s: SCOPES.index(s) if s in SCOPES else len(SCOPES)),
        _level=table["level"].map(LEVELS.index),
    ).sort_values(["model", "subset", "_scope", "scope", "_level", "group"], kind="stable")
    return order.drop(columns=["_scope", "_level"]).reset_index(drop=True)
