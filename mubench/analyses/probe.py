"""Linear probe on frozen image features (appendix E.2): how separable each μ-Bench task is without language.

Per task — each coarse question type (label = the image's modality, stain, …) and each fine dataset (label =
label_name) — PCA keeping 95 % of the variance with whitening, fitted on train only, then a logistic regression
whose settings Optuna's seeded TPE sampler picks by validation macro F1; the chosen model (refitted on train) is
scored on the test images, beside the chance baseline: the scikit-learn dummy classifier with the best validation
macro F1 (chosen without looking at the test images), with the same bootstrap CI as the probe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.pipeline import make_pipeline

from mubench.benchmark.tables import COARSE_TYPES

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
DUMMY_STRATEGIES = ("prior", "most_frequent", "stratified")
RESULT_COLUMNS = [
    "subset", "task", "status", "n_classes", "n_train", "n_val", "n_test", "split_source", "pca_components",
    "C", "class_weight", "val_macro_f1", "macro_f1", "macro_f1_ci_low", "macro_f1_ci_high", "balanced_accuracy",
    "dummy_strategy", "dummy_val_macro_f1", "dummy_macro_f1", "dummy_macro_f1_ci_low", "dummy_macro_f1_ci_high",
    "dummy_balanced_accuracy",
]


@dataclass(frozen=True, kw_only=True)
class ProbeSettings:
    """``probe`` from the config (less ``features``)."""

    n_trials: int
    seed: int
    pca_variance: float
    fallback_split: tuple[float, float, float]  # train/val/test when the source has none
    max_iter: int
    ci_resamples: int  # test-set bootstrap of macro F1 (Fig. 8's error bars)
    ci_confidence: float

    @classmethod
    def from_config(cls, probe: dict) -> "ProbeSettings":
        """Config ``probe`` (its ``features`` are FeatureSettings')."""
        values = {key: value for key, value in probe.items() if key != "features"}
        return cls(**{**values, "fallback_split": tuple(values["fallback_split"])})


@dataclass(frozen=True)
class Task:
    subset: str  # coarse | fine
    name: str  # question type (coarse) or dataset (fine)
    image_ids: np.ndarray
    labels: np.ndarray
    source_splits: np.ndarray  # the images' `split` column


def probe_tasks(images: pd.DataFrame, questions: pd.DataFrame) -> Iterator[Task]:
    """Coarse tasks: the images asked that question type; fine tasks: the images of each fine dataset."""
    images = images.set_index("image_id")
    for qtype in COARSE_TYPES:
        ids = questions.loc[(questions["subset"] == "coarse") & (questions["question_type"] == qtype), "image_id"]
        yield _task(images, "coarse", qtype, ids.unique(), qtype)
    fine = questions[questions["subset"] == "fine"]
    for dataset, rows in sorted(fine.groupby("dataset")["image_id"]):
        yield _task(images, "fine", dataset, rows.unique(), "label_name")


def _task(images: pd.DataFrame, subset: str, name: str, image_ids: np.ndarray, label_column: str) -> Task:
    rows = images.loc[image_ids]
    rows = rows[rows[label_column].notna()]  # an image without that label cannot be a training example
    return Task(subset, name, rows.index.to_numpy(), rows[label_column].astype(str).to_numpy(),
                rows["split"].fillna("").astype(str).to_numpy())


def assign_splits(labels: np.ndarray, source_splits: np.ndarray, fractions: Sequence[float],
                  seed: int) -> tuple[np.ndarray, str]:
    """The source's train/val/test split when it has all three, else a seeded per-class (stratified) split.

    Returns the split per image and where it came from (``source`` or ``stratified``).
    """
    if set(SPLITS) <= set(source_splits):
        return np.where(np.isin(source_splits, SPLITS), source_splits, ""), "source"
    rng = np.random.default_rng(seed)
    splits = np.empty(len(labels), dtype=object)
    bounds = np.cumsum(fractions)[:2] / np.sum(fractions)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_train, n_val_end = np.round(bounds * len(members)).astype(int)
        splits[members[:n_train]] = "train"
        splits[members[n_train:n_val_end]] = "val"
        splits[members[n_val_end:]] = "test"
    return splits.astype(str), "stratified"


def best_dummy(y_train: np.ndarray, y_val: np.ndarray, seed: int) -> tuple[str, float, DummyClassifier]:
    """(strategy, validation macro F1, classifier fitted on train) of the dummy classifier with the highest
    validation macro F1: the test images play no part in the choice."""
    results = []
    for strategy in DUMMY_STRATEGIES:
        dummy = DummyClassifier(strategy=strategy, random_state=seed).fit(np.zeros((len(y_train), 1)), y_train)
        results.append((strategy, _macro_f1(y_val, dummy.predict(np.zeros((len(y_val), 1)))), dummy))
    return max(results, key=lambda r: r[1])  # first of equals: prior before most_frequent


def _macro_f1(y_true, y_pred) -> float:
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def macro_f1_ci(y_true, y_pred, *, n_resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap CI of macro F1 over the test images, exactly as resampling rows and calling
    sklearn's ``f1_score(average="macro", zero_division=0)`` would give, but vectorized: a resample is a
    multinomial count per row, and per-class TP/FP/FN are count-weighted sums. A class counts towards a
    resample's mean only when it occurs in it (as true or predicted label), as in sklearn."""
    n = len(y_true)
    weights = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_resamples)
    resampled = weighted_macro_f1(y_true, y_pred, weights)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(resampled, [alpha, 1 - alpha])
    return float(low), float(high)


def weighted_macro_f1(y_true, y_pred, weights: np.ndarray) -> np.ndarray:
    """Macro F1 of each row of ``weights`` (how often each test image occurs in a resample)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    f1_sum = np.zeros(len(weights))
    present = np.zeros(len(weights))
    for label in np.union1d(y_true, y_pred):
        is_true, is_pred = y_true == label, y_pred == label
        tp, fp, fn = (weights @ mask for mask in (is_true & is_pred, ~is_true & is_pred, is_true & ~is_pred))
        denominator = 2 * tp + fp + fn
        f1_sum += np.divide(2 * tp, denominator, out=np.zeros(len(weights)), where=denominator > 0)
        present += denominator > 0
    return f1_sum / present


def _probe_model(n_components: float, params: dict, settings: ProbeSettings):
    return make_pipeline(
        PCA(n_components=n_components, whiten=True, svd_solver="full", random_state=settings.seed),
        LogisticRegression(C=params["C"], class_weight=params["class_weight"], max_iter=settings.max_iter),
    )


def tune_probe(x_train, y_train, x_val, y_val, settings: ProbeSettings):
    """Optuna TPE (seeded, sequential, so deterministic) over C and class weighting; objective = val macro F1.

    Returns the pipeline refitted on train with the best settings, its parameters and validation macro F1.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # PCA with whitening depends only on the training features: fit it once, reuse it for every trial.
    pca = PCA(n_components=settings.pca_variance, whiten=True, svd_solver="full",
              random_state=settings.seed).fit(x_train)
    z_train, z_val = pca.transform(x_train), pca.transform(x_val)

    def objective(trial) -> float:
        params = {"C": trial.suggest_float("C", 1e-4, 1e3, log=True),
                  "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"])}
        clf = LogisticRegression(C=params["C"], class_weight=params["class_weight"], max_iter=settings.max_iter)
        return _macro_f1(y_val, clf.fit(z_train, y_train).predict(z_val))

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=settings.seed))
    study.optimize(objective, n_trials=settings.n_trials)
    model = _probe_model(settings.pca_variance, study.best_params, settings).fit(x_train, y_train)
    return model, study.best_params, study.best_value


def evaluate_task(task: Task, features: np.ndarray, settings: ProbeSettings) -> dict:
    """One result row; a task that cannot be probed gets status ``skipped: <reason>`` and no scores."""
    splits, source = assign_splits(task.labels, task.source_splits, settings.fallback_split, settings.seed)
    part = {name: splits == name for name in SPLITS}
    y = task.labels
    row = dict(subset=task.subset, task=task.name, n_classes=len(np.unique(y)), split_source=source,
               **{f"n_{name}": int(part[name].sum()) for name in SPLITS})
    train_classes = len(np.unique(y[part["train"]]))
    reason = ("fewer than 2 classes in train" if train_classes < 2
              else "no validation images" if not part["val"].any()
              else "no test images" if not part["test"].any() else None)
    if reason:
        log.warning("probe %s/%s skipped: %s", task.subset, task.name, reason)
        return {**row, "status": f"skipped: {reason}"}
    model, params, val_f1 = tune_probe(features[part["train"]], y[part["train"]], features[part["val"]],
                                       y[part["val"]], settings)
    predicted = model.predict(features[part["test"]])
    strategy, dummy_val_f1, dummy = best_dummy(y[part["train"]], y[part["val"]], settings.seed)
    dummy_predicted = dummy.predict(np.zeros((int(part["test"].sum()), 1)))
    dummy_f1 = _macro_f1(y[part["test"]], dummy_predicted)
    log.info("probe %s/%s: test macro F1 %.3f (dummy %s, chosen on validation: %.3f)", task.subset, task.name,
             _macro_f1(y[part["test"]], predicted), strategy, dummy_f1)
    ci = dict(n_resamples=settings.ci_resamples, confidence=settings.ci_confidence, seed=settings.seed)
    ci_low, ci_high = macro_f1_ci(y[part["test"]], predicted, **ci)
    dummy_low, dummy_high = macro_f1_ci(y[part["test"]], dummy_predicted, **ci)
    return {
        **row, "status": "ok", "pca_components": int(model[0].n_components_), "C": params["C"],
        "class_weight": params["class_weight"] or "none", "val_macro_f1": val_f1,
        "macro_f1": _macro_f1(y[part["test"]], predicted), "macro_f1_ci_low": ci_low, "macro_f1_ci_high": ci_high,
        "balanced_accuracy": float(balanced_accuracy_score(y[part["test"]], predicted)),
        "dummy_strategy": strategy, "dummy_val_macro_f1": dummy_val_f1, "dummy_macro_f1": dummy_f1,
        "dummy_macro_f1_ci_low": dummy_low, "dummy_macro_f1_ci_high": dummy_high,
        "dummy_balanced_accuracy": float(balanced_accuracy_score(y[part["test"]], dummy_predicted)),
    }


def run_probe(images: pd.DataFrame, questions: pd.DataFrame, image_ids: np.ndarray, features: np.ndarray,
              settings: ProbeSettings) -> pd.DataFrame:
    """Every task's result row (fractions, not percent), in task order: coarse types, then fine datasets."""
    index = pd.Series(np.arange(len(image_ids)), index=image_ids)
    missing = sorted(set(images["image_id"]) - set(image_ids))
    if missing:
        raise KeyError(f"no probe features for {len(missing)} images (first: {missing[:3]}); rerun probe_features")
    rows = [evaluate_task(task, features[index.loc[task.image_ids].to_numpy()], settings)
            for task in probe_tasks(images, questions)]
    return pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS)
