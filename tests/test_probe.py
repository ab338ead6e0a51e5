"""Linear probe: splits, dummy baseline, Optuna-tuned probe, skipped tasks, feature extraction and its cache, and
the demo's untrained ViT-S/14 beating the dummy baseline on the stain and modality tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from conftest import config_section, workflow_config

from mubench.analyses import probe_features
from mubench.benchmark.tables import Benchmark
from mubench.figures.linear_probe import build_table13, plot_fig8, read_reference
from mubench.analyses.probe import (
    RESULT_COLUMNS,
    ProbeSettings,
    assign_splits,
    best_dummy,
    evaluate_task,
    macro_f1_ci,
    probe_tasks,
    run_probe,
    tune_probe,
    weighted_macro_f1,
)
from mubench.analyses.probe_features import FeatureSettings, image_features

REPO = Path(__file__).resolve().parent.parent
CONFIG = workflow_config()  # config.yaml as the workflow reads it


def probe_settings(**values) -> ProbeSettings:
    """Config ``probe`` settings (the schema's defaults) with ``values`` changed."""
    probe = config_section("probe", **{"features": {"backend": "timm"}, "n_trials": 2, "seed": 0, **values})
    return ProbeSettings.from_config(probe)


def feature_settings(**values) -> FeatureSettings:
    """Config ``probe.features`` settings (the schema's defaults, timm backend) with ``values`` changed."""
    return FeatureSettings.from_config(config_section("probe.features", **{"backend": "timm", **values}))


def test_source_split_is_used_when_it_has_train_val_and_test():
    labels = np.array(["a", "b", "a", "b", "a"])
    source = np.array(["train", "val", "test", "train", "other"])
    splits, origin = assign_splits(labels, source, (0.7, 0.1, 0.2), seed=0)
    assert origin == "source" and splits.tolist() == ["train", "val", "test", "train", ""]


def test_fallback_split_is_stratified_seeded_and_deterministic():
    labels = np.repeat(["a", "b", "c"], [50, 30, 20])
    splits, origin = assign_splits(labels, np.array(["test"] * 100), (0.7, 0.1, 0.2), seed=3)
    assert origin == "stratified"
    for label, n in (("a", 50), ("b", 30), ("c", 20)):
        counts = pd.Series(splits[labels == label]).value_counts()
        assert (counts["train"], counts["val"], counts["test"]) == (round(0.7 * n), round(0.8 * n) - round(0.7 * n),
                                                                  n - round(0.8 * n))
    assert (assign_splits(labels, np.array(["test"] * 100), (0.7, 0.1, 0.2), seed=3)[0] == splits).all()
    assert (assign_splits(labels, np.array(["test"] * 100), (0.7, 0.1, 0.2), seed=4)[0] != splits).any()


def test_best_dummy_is_chosen_on_validation_not_test():
    y_train = np.array(["a"] * 9 + ["b"])
    strategy, val_f1, dummy = best_dummy(y_train, np.array(["a"] * 8 + ["b"] * 2), seed=0)
    assert strategy in {"prior", "most_frequent", "stratified"}
    assert val_f1 >= (2 * 0.8 / 1.8) / 2 - 1e-9  # never worse than always answering "a" (F1 of a = 0.8/0.9, of b = 0)
    assert len(dummy.predict(np.zeros((3, 1)))) == 3
    # the choice reads the validation labels only: any test set gets the same dummy
    assert best_dummy(y_train, np.array(["a"] * 8 + ["b"] * 2), seed=0)[0] == strategy


def _blobs(n_per_class: int, seed: int, dim: int = 20):
    """Three well-separated Gaussian classes (same centres for every seed; the seed draws the samples)."""
    centres = np.random.default_rng(0).normal(0, 6, (3, dim))
    rng = np.random.default_rng(seed + 1)
    labels = np.repeat(np.array(["x", "y", "z"]), n_per_class)
    return centres[np.repeat(np.arange(3), n_per_class)] + rng.normal(0, 1, (3 * n_per_class, dim)), labels


def test_tuned_probe_separates_blobs_and_is_deterministic():
    (x_train, y_train), (x_val, y_val) = _blobs(30, 0), _blobs(10, 1)
    settings = probe_settings(n_trials=8, seed=0)
    model, params, val_f1 = tune_probe(x_train, y_train, x_val, y_val, settings)
    assert val_f1 == 1.0 and (model.predict(x_val) == y_val).all()
    assert tune_probe(x_train, y_train, x_val, y_val, settings)[1] == params
    pca = model[0]
    assert pca.whiten and pca.explained_variance_ratio_.sum() >= 0.95


def test_tasks_and_skipped_tasks_on_the_tiny_benchmark(tiny_benchmark):
    bench = Benchmark(tiny_benchmark)
    tasks = {(t.subset, t.name): t for t in probe_tasks(bench.images, bench.questions)}
    assert set(tasks) == {("coarse", q) for q in ("modality", "submodality", "domain", "subdomain", "stain")} | {
        ("fine", "ds_a"), ("fine", "ds_b")}
    assert (tasks[("coarse", "stain")].labels == "H&E").all() and len(tasks[("fine", "ds_b")].image_ids) == 6
    images = bench.images
    features = np.random.default_rng(0).normal(size=(len(images), 8))
    results = run_probe(images, bench.questions, images["image_id"].to_numpy(), features, probe_settings(n_trials=2))
    assert list(results.columns) == RESULT_COLUMNS
    assert (results["status"] == "skipped: fewer than 2 classes in train").all()  # one label everywhere
    assert results["macro_f1"].isna().all()


def test_missing_features_are_named(tiny_benchmark):
    bench = Benchmark(tiny_benchmark)
    with pytest.raises(KeyError, match="img000"):
        run_probe(bench.images, bench.questions, np.array(["other"]), np.zeros((1, 4)), probe_settings())


def test_feature_settings_validation_label_and_fingerprint():
    with pytest.raises(ValueError, match="pooling"):
        feature_settings(pooling="mean")
    with pytest.raises(ValueError, match="multiple of 14"):
        feature_settings(image_size=100)
    base = feature_settings(image_size=112)
    assert "UNTRAINED" in base.display_label
    assert "UNTRAINED" not in feature_settings(pretrained="facebook/dinov2-small").display_label
    assert feature_settings(image_size=112, batch_size=3).fingerprint == base.fingerprint
    assert feature_settings(image_size=126).fingerprint != base.fingerprint
    assert feature_settings(image_size=112, seed=1).fingerprint != base.fingerprint


@pytest.mark.parametrize("backend,pooling,dim", [("timm", "cls", 384), ("timm", "cls_mean_patch", 768),
                                                  ("transformers", "cls", 384)])
def test_untrained_features_shape_seed_and_cache(tiny_benchmark, tmp_path, monkeypatch, backend, pooling, dim):
    images = Benchmark(tiny_benchmark).images.head(4)
    settings = feature_settings(backend=backend, pooling=pooling, image_size=28, batch_size=3)
    first = image_features(images, tiny_benchmark, settings, tmp_path / "cache")
    assert first.shape == (4, dim) and np.isfinite(first).all()
    assert np.allclose(image_features(images, tiny_benchmark, settings, tmp_path / "other"), first, atol=1e-5)

    def must_not_load(*args, **kwargs):
        raise AssertionError("features recomputed although cached")

    monkeypatch.setattr(probe_features, "FeatureExtractor", must_not_load)
    assert (image_features(images, tiny_benchmark, settings, tmp_path / "cache") == first).all()


def test_local_weights_load_for_both_backends(tiny_benchmark, tmp_path):
    """Weights saved from the seeded untrained model load back through the `pretrained` path: same features."""
    images = Benchmark(tiny_benchmark).images.head(2)
    untrained = {backend: feature_settings(backend=backend, image_size=28, seed=5) for backend in ("timm", "transformers")}
    timm_model = probe_features.FeatureExtractor(untrained["timm"]).backbone.model
    weights = tmp_path / "vit.safetensors"
    from safetensors.torch import save_file

    save_file(timm_model.state_dict(), str(weights))
    folder = tmp_path / "dinov2"
    probe_features.FeatureExtractor(untrained["transformers"]).backbone.model.save_pretrained(folder)
    for backend, source in (("timm", weights), ("transformers", folder)):
        loaded = feature_settings(backend=backend, image_size=28, seed=0, pretrained=str(source))
        expected = image_features(images, tiny_benchmark, untrained[backend], tmp_path / "a")
        assert np.allclose(image_features(images, tiny_benchmark, loaded, tmp_path / "b"), expected, atol=1e-4)


def test_missing_weights_file_is_refused_with_remedy(tmp_path):
    settings = feature_settings(pretrained=str(tmp_path / "absent.safetensors"), image_size=28)
    with pytest.raises(probe_features.ModelLoadError, match="probe.features.pretrained"):
        probe_features.FeatureExtractor(settings)


def test_table13_and_fig8(tmp_path):
    results = pd.DataFrame([
        dict(subset="coarse", task="stain", status="ok", macro_f1=0.5, macro_f1_ci_low=0.4, macro_f1_ci_high=0.58,
             balanced_accuracy=0.6, val_macro_f1=0.55, dummy_macro_f1=0.1, dummy_macro_f1_ci_low=0.05,
             dummy_macro_f1_ci_high=0.2, dummy_balanced_accuracy=0.2, C=0.123456),
        dict(subset="fine", task="mine", status="skipped: no test images"),
    ]).reindex(columns=RESULT_COLUMNS)
    table = build_table13(results, read_reference(REPO / "paper_figures/reference/paper_table13_linear_probe.csv"),
                          "untrained")
    stain = table.set_index("task").loc["stain"]
    assert (stain["macro_f1"], stain["paper_macro_f1"], stain["C"]) == (50.0, 98.59, 0.1235)
    assert stain["features"] == "untrained"
    drawn = plot_fig8(table, tmp_path / "fig8.png", tmp_path / "fig8.pdf", "test")
    assert (tmp_path / "fig8.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "fig8.pdf").read_bytes().startswith(b"%PDF")
    ours = drawn[drawn["series"].str.startswith("linear probe (ours")].iloc[0]
    assert (ours["value"], ours["ci_low"], ours["ci_high"]) == (50.0, 40.0, 58.0)  # the error bar drawn
    assert set(drawn["series"]) == {"linear probe (ours, 95 % CI)", "best dummy on validation (ours, 95 % CI)",
                                    "linear probe (paper)"}
    dummy = drawn[drawn["series"].str.startswith("best dummy")].iloc[0]
    assert (dummy["value"], dummy["ci_low"], dummy["ci_high"]) == (10.0, 5.0, 20.0)


def test_macro_f1_bootstrap_equals_resampling_rows_with_sklearn():
    """Each vectorized resample is exactly sklearn's macro F1 of the resampled rows, classes absent included."""
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 5, 60)
    y_pred = np.where(rng.random(60) < 0.5, y_true, rng.integers(0, 6, 60))  # class 5 only ever predicted
    weights = rng.multinomial(60, np.full(60, 1 / 60), size=40)
    fast = weighted_macro_f1(y_true, y_pred, weights)
    for row, w in zip(fast, weights):
        rows = np.repeat(np.arange(60), w)
        assert row == pytest.approx(f1_score(y_true[rows], y_pred[rows], average="macro", zero_division=0))
    low, high = macro_f1_ci(y_true, y_pred, n_resamples=999, confidence=0.95, seed=0)
    assert low < f1_score(y_true, y_pred, average="macro") < high
    assert (low, high) == macro_f1_ci(y_true, y_pred, n_resamples=999, confidence=0.95, seed=0)


@pytest.fixture(scope="module")
def demo_probe(demo_run):
    """The default config's probe on the demo benchmark (untrained ViT-S/14 at the configured image size), as the
    shared demo run computed it (probe_features, linear_probe)."""
    table = pd.read_parquet(demo_run / "results" / "demo" / "probe" / "linear_probe.parquet")
    return {row["task"]: row for row in table.to_dict("records") if row["task"] in ("stain", "modality")}


@pytest.mark.parametrize("task", ["stain", "modality"])
def test_untrained_probe_beats_dummy_on_demo(demo_probe, task):
    row = demo_probe[task]
    assert row["status"] == "ok" and row["split_source"] == "source"
    assert row["macro_f1"] > row["dummy_macro_f1"] + 0.15
    assert row["balanced_accuracy"] > row["dummy_balanced_accuracy"] + 0.15
