"""The classical threshold detector: boxes on drawn and real nuclei, its config, and its detection pass."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_FIGURES, make_tiny_benchmark
from PIL import Image

from mubench.answering.detection import detect_benchmark, detection_models
from mubench.benchmark.demo import mask_boxes
from mubench.benchmark.tables import write_table
from mubench.config import ConfigError, check_config
from mubench.models import load_model
from mubench.models.classical_detector import ThresholdDetector
from mubench.models.spec import ModelSpec
from mubench.scoring.grit import localization_score


def detector(**thresholding) -> ModelSpec:
    return ModelSpec.from_config(dict(name="Threshold", family="classical_detector", thresholding=thresholding))


def two_squares(dark: bool) -> np.ndarray:
    """A 64 × 48 RGB image: squares at rows 5–14 × cols 10–19 and rows 30–39 × cols 40–59 on a plain background."""
    pixels = np.full((48, 64, 3), 20 if not dark else 230, np.uint8)
    pixels[5:15, 10:20] = pixels[30:40, 40:60] = 230 if not dark else 20
    pixels[0, 0] = 240 if not dark else 10  # a one-pixel speck: dropped by min_area
    return pixels


def test_boxes_are_pixel_edges_like_the_ground_truth():
    found = ThresholdDetector(detector(sigma=0, min_area=4)).detect_one(two_squares(dark=False))
    assert sorted(found.boxes) == [[10.0, 5.0, 20.0, 15.0], [40.0, 30.0, 60.0, 40.0]]
    assert "3 components, 2 of at least 4 px" in found.summary


def test_invert_finds_dark_objects_and_no_invert_does_not():
    dark = two_squares(dark=True)
    assert sorted(ThresholdDetector(detector(sigma=0, min_area=4, invert=True)).detect_one(dark).boxes) == [
        [10.0, 5.0, 20.0, 15.0], [40.0, 30.0, 60.0, 40.0]]
    assert ThresholdDetector(detector(sigma=0, min_area=4)).detect_one(dark).boxes == [[0.0, 0.0, 64.0, 48.0]]


def test_constant_image_has_no_objects_and_unknown_method_is_refused():
    assert ThresholdDetector(detector()).detect_one(np.zeros((8, 8, 3), np.uint8)).boxes == []
    with pytest.raises(ValueError, match="'Threshold': thresholding.method 'magic' is not one of otsu"):
        ThresholdDetector(detector(method="magic"))


@pytest.fixture(scope="module")
def real_nuclei():
    """StarDist's DSB2018 nuclei image (shipped in the wheel) and the boxes of its real instance mask."""
    import stardist.data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        image, mask = stardist.data.test_image_nuclei_2d(return_mask=True)
    as_uint8 = np.clip(image / np.percentile(image, 99.5) * 255, 0, 255).astype(np.uint8)
    return np.stack([as_uint8] * 3, axis=-1), mask_boxes(mask, np.unique(mask)[1:])


def test_real_nuclei_localized_far_above_an_empty_prediction(real_nuclei):
    pixels, truth = real_nuclei
    assert len(truth) == 125 and localization_score([], truth) == 0.0
    plain = ThresholdDetector(detector(sigma=1, min_area=20)).detect_one(pixels)
    split = ThresholdDetector(detector(sigma=1, min_area=20, split_min_distance=7)).detect_one(pixels)
    assert localization_score(plain.boxes, truth) > 0.35
    # touching nuclei merge into one component; the watershed split gets most of them back
    assert len(plain.boxes) < len(split.boxes) <= len(truth)
    assert localization_score(split.boxes, truth) > localization_score(plain.boxes, truth) + 0.1
    one_box = [[0.0, 0.0, float(pixels.shape[1]), float(pixels.shape[0])]]
    assert localization_score(one_box, truth) < 0.01  # the metric punishes a lazy whole-image box


def test_detector_is_configured_under_detection_models_only():
    config = {"benchmark": {"source": "demo"}, "models": [{"name": "Random", "family": "random", "seed": 0}]}
    models = check_config(config)
    entry = {"name": "Threshold", "family": "classical_detector", "thresholding": {"method": "li", "min_area": 5}}
    chosen = detection_models([entry], models)
    assert chosen["Threshold"].kind == "detection" and chosen["Threshold"].thresholding.method == "li"
    assert chosen["Threshold"].container == "base" and chosen["Threshold"].weights_revision == "no weights"
    with pytest.raises(ConfigError, match=r"models\[1\] \('Threshold'\).*list it under detection.models"):
        check_config({**config, "models": config["models"] + [entry]})
    with pytest.raises(ConfigError, match=r"detection.models\[0\]: 'Random' \(family random\) cannot localize"):
        detection_models(["Random"], models)
    with pytest.raises(ConfigError, match=r"detection.models\[1\]: 'Threshold' is listed twice"):
        detection_models([entry, entry], models)
    with pytest.raises(ConfigError, match=r"'Random' is also the name of a model under `models:`"):
        detection_models([dict(entry, name="Random")], models)
    with pytest.raises(ConfigError, match=r"detection.models\[0\] \('Threshold'\).*min_aera"):
        detection_models([dict(entry, thresholding={"min_aera": 5})], models)


def test_detection_pass_detects_each_image_once_with_provenance(tmp_path):
    root = make_tiny_benchmark(tmp_path / "bench", n_images=2)
    drawn = root / "images" / "img000.png"
    Image.fromarray(two_squares(dark=False)).save(drawn)
    images = pd.read_parquet(root / "images.parquet")  # the build's record of the image, as the pass verifies it
    images.loc[images["image_id"] == "img000", "md5"] = hashlib.md5(drawn.read_bytes()).hexdigest()
    write_table(images, "images", root / "images.parquet")
    write_table(pd.DataFrame(dict(
        image_id=["img000", "img000", "img001"], dataset=["ds_a"] * 3, class_name=["cell", "nucleus", "cell"],
        boxes=[[[10.0, 5.0, 20.0, 15.0], [40.0, 30.0, 60.0, 40.0]], [], [[0.0, 0.0, 8.0, 8.0]]],
        difficulty=["easy", "easy", "hard"])), "detection", root / "detection.parquet")
    spec = detector(sigma=0, min_area=4)
    calls = []

    class Counting(ThresholdDetector):
        def detect(self, images):
            calls.append(len(images))
            return super().detect(images)

    table = detect_benchmark(spec, root, cache_dir=tmp_path / "unused", batch_size=1, model=Counting(spec))
    assert calls == [1, 1]  # two distinct images, whatever the number of class rows
    assert sorted(table["pred_boxes"].iloc[0]) == [[10.0, 5.0, 20.0, 15.0], [40.0, 30.0, 60.0, 40.0]]
    assert table["pred_boxes"].iloc[1] == table["pred_boxes"].iloc[0] and table["parsed"].all()
    row = table.iloc[0]
    assert row["prompt_version"].startswith("otsu threshold, sigma 0") and "scikit-image" in row["parser_version"]
    assert (row["model_id"], row["model_revision"]) == ("classical_detector", "no weights")
    assert not (tmp_path / "unused").exists()
    assert isinstance(load_model(spec), ThresholdDetector)


@pytest.mark.workflow
def test_demo_writes_table18_with_the_classical_detector(demo_run):
    table = pd.read_csv(demo_run / DEMO_FIGURES / "table18_grit.csv").set_index(["split", "dataset"])
    assert set(table["model"]) == {"Threshold-CC"} and (table["n_unparsed"] == 0).all()
    assert table.loc[("easy", "demo_synthetic_eccentricity"), "grit"] > 90  # one rendered cell per image
    assert table.loc[("hard", "demo_nuclei_count"), "grit"] > 30  # crowded real nuclei: well above an empty answer
    log = (demo_run / "logs" / "detect" / "demo" / "Threshold-CC.log").read_text()
    assert "100 detection rows, 0 without a parseable box" in log
