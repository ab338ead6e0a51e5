"""The demo benchmark obeys the table contract and its labels are true of the pixels (re-measured here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from scipy import ndimage as ndi
from skimage.filters import gaussian
from skimage.measure import label, regionprops

from mubench.benchmark.coarse import coarse_question
from mubench.benchmark.demo import build_demo
from mubench.benchmark.tables import COARSE_TYPES, NONE_OF_THE_ABOVE, SCHEMAS, Benchmark
from mubench.resources import taxonomy

PARAMS = dict(patch_size=96, crops_per_source=12, synthetic_per_class=6)
TABLES = ("images", "questions", "detection")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Two builds with the same seed and one with another seed."""
    roots = {name: tmp_path_factory.mktemp(name) for name in ("a", "b", "other")}
    for name, root in roots.items():
        build_demo(root, seed=11 if name == "other" else 7, **PARAMS)
    return roots


@pytest.fixture(scope="module")
def bench(builds):
    return Benchmark(builds["a"])


@pytest.fixture(scope="module")
def crops(builds):
    return json.loads((builds["a"] / "manifest.json").read_text())["crops"]


@pytest.fixture(scope="module")
def nuclei_mask():
    import stardist.data

    return stardist.data.test_image_nuclei_2d(return_mask=True)[1]


def pixels(bench, image_id):
    return np.array(Image.open(bench.root / f"images/{image_id}.png"))


def window(array, crop):
    """Re-implementation of the documented crop convention: window, rot90 k times, then left-right flip."""
    y, x, size = crop["y"], crop["x"], crop["size"]
    out = np.rot90(array[y:y + size, x:x + size], crop["rot90"])
    return out[:, ::-1] if crop["flip"] else out


def test_tables_round_trip_with_exact_schema(bench):
    for name in TABLES:
        path = bench.root / f"{name}.parquet"
        assert pq.read_schema(path).remove_metadata().equals(SCHEMAS[name])
    images, questions = bench.images, bench.questions
    assert images["dataset"].str.startswith("demo_").all()
    assert len(images) == 4 * 12 + 6 * 6
    assert all((bench.root / path).is_file() for path in images["path"])
    assert set(questions["image_id"]) == set(images["image_id"])
    assert set(images.groupby("dataset")["split"].unique().map(frozenset)) == {frozenset({"train", "val", "test"})}


def test_every_image_has_all_coarse_questions_with_none_last(bench):
    coarse = bench.questions.query("subset == 'coarse'")
    per_image = coarse.groupby("image_id")["question_type"].apply(sorted)
    assert (per_image.map(tuple) == tuple(sorted(COARSE_TYPES))).all()
    assert len(per_image) == len(bench.images)
    for row in coarse.itertuples():
        assert row.options[-1] == NONE_OF_THE_ABOVE and list(row.options).count(NONE_OF_THE_ABOVE) == 1
        assert len(row.captions) == len(row.options) and row.caption_key == row.question_type
        # the alternative caption set for the sensitivity analysis: the option text alone
        assert {k: list(v) for k, v in row.caption_variants.items()} == {f"{row.question_type}_1": list(row.options)}


def test_coarse_options_come_from_the_parent_and_answer_is_truth(bench):
    tax = taxonomy()
    images = bench.images.set_index("image_id")
    for row in bench.questions.query("subset == 'coarse'").itertuples():
        image = images.loc[row.image_id]
        allowed = {
            "modality": tax["modality_submodality"].keys(),
            "submodality": tax["modality_submodality"][image.modality],
            "stain": tax["modality_stain"][image.modality],
            "domain": tax["domain_subdomain"].keys(),
            "subdomain": tax["domain_subdomain"][image.domain],
        }[row.question_type]
        assert set(row.options) <= set(allowed) | {NONE_OF_THE_ABOVE}
        assert row.options[row.answer_idx] == image[row.question_type]


def test_coarse_rejects_values_outside_the_taxonomy():
    labels = dict(modality="light microscopy", submodality="holography", domain="biology",
                  subdomain="cell biology", stain="None")
    with pytest.raises(ValueError, match="holography"):
        coarse_question("submodality", labels, np.random.default_rng(0))


def test_fine_answers_are_the_image_labels(bench):
    labels = bench.images.set_index("image_id")["label_name"]
    fine = bench.questions.query("subset == 'fine'")
    assert len(fine) == len(labels) and (fine["caption_key"] == "classification_1").all()
    for row in fine.itertuples():
        assert row.options[row.answer_idx] == labels[row.image_id]
        assert NONE_OF_THE_ABOVE not in row.options
        assert {k: list(v) for k, v in row.caption_variants.items()} == {"classification_0": list(row.options)}


def centroids_and_boxes(mask):
    ids = np.unique(mask)[1:]
    centroids = np.array(ndi.center_of_mass(mask > 0, mask, ids))
    boxes = ndi.find_objects(mask)
    return ids, centroids, {i: boxes[i - 1] for i in ids}


def test_nuclei_count_bins_recounted_from_the_stardist_mask(bench, crops, nuclei_mask):
    import stardist.data

    raw = stardist.data.test_image_nuclei_2d()
    ids, centroids, _ = centroids_and_boxes(nuclei_mask)
    images = bench.images.query("dataset == 'demo_nuclei_count'")
    for row in images.itertuples():
        crop = crops[row.image_id]
        y, x, size = crop["y"], crop["x"], crop["size"]
        count = int(((centroids >= [y, x]) & (centroids < [y + size, x + size])).all(axis=1).sum())
        expected = "0 to 2" if count <= 2 else "3 to 4" if count <= 4 else "5 or more"
        assert row.label_name == expected, row.image_id
        png = pixels(bench, row.image_id).astype(float)
        assert np.corrcoef(png.ravel(), window(raw, crop).astype(float).ravel())[0, 1] > 0.95  # same window (clipping aside)


def test_synthetic_eccentricity_remeasured_from_png(bench):
    for row in bench.images.query("dataset == 'demo_synthetic_eccentricity'").itertuples():
        image = gaussian(pixels(bench, row.image_id) / 255, sigma=1)
        cell = max(regionprops(label(image > 0.2)), key=lambda r: r.area)
        e = cell.eccentricity
        measured = "low" if e < 0.5 else "medium" if e < 0.82 else "high"
        assert measured == row.label_name, (row.image_id, e)


def test_synthetic_em_structures_remeasured_from_png(bench):
    for row in bench.images.query("dataset == 'demo_synthetic_em'").itertuples():
        image = gaussian(pixels(bench, row.image_id) / 255, sigma=1)
        organelles = [r for r in regionprops(label(ndi.binary_fill_holes(image < 0.55))) if r.area >= 6]
        size = image.shape[0]
        if max(r.area for r in organelles) > 0.1 * size**2:
            measured = "a nucleus"
        else:
            measured = "mitochondria" if np.median([r.eccentricity for r in organelles]) > 0.75 else "vesicles"
        assert measured == row.label_name, row.image_id


def test_qpi_cell_crops_show_the_cell_or_only_background(bench, crops):
    for row in bench.images.query("dataset == 'demo_qpi_cell'").itertuples():
        bright = gaussian(pixels(bench, row.image_id).astype(float), sigma=2, preserve_range=True) > 130
        assert (bright.mean() > 0.2) == (row.label_name == "a cell"), row.image_id


def test_detection_boxes_match_mask_objects(bench, crops, nuclei_mask):
    datasets = bench.images.set_index("image_id")["dataset"]
    size = PARAMS["patch_size"]
    for row in bench.detection.itertuples():
        boxes = np.array([list(b) for b in row.boxes])
        assert ((boxes >= 0) & (boxes <= size)).all() and (boxes[:, 2:] > boxes[:, :2]).all()
        if row.class_name == "nucleus":
            crop_mask = window(nuclei_mask, crops[row.image_id])
            truth = []
            for sl in ndi.find_objects(crop_mask):
                if sl is not None:
                    truth.append([sl[1].start, sl[0].start, sl[1].stop, sl[0].stop])
            assert all(list(box) in truth for box in boxes.tolist())
            assert row.difficulty == ("hard" if len(boxes) > 1 else "easy")
        else:
            assert row.class_name == "cell" and row.difficulty == "easy" and len(boxes) == 1
            assert datasets[row.image_id] == "demo_synthetic_eccentricity"
            ys, xs = np.nonzero(gaussian(pixels(bench, row.image_id) / 255, sigma=1) > 0.2)
            assert np.abs(boxes[0] - [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).max() <= 2


def test_cognition_answers_recomputed_from_the_mask(bench, crops, nuclei_mask):
    _, _, full_boxes = centroids_and_boxes(nuclei_mask)
    areas = np.bincount(nuclei_mask.ravel())
    cognition = bench.questions.query("subset == 'cognition'")
    assert len(cognition) == PARAMS["crops_per_source"]
    for row in cognition.itertuples():
        crop = crops[row.image_id]
        y, x, size = crop["y"], crop["x"], crop["size"]
        inside = [i for i, (rows, cols) in full_boxes.items()  # bounding box clear of the crop's edge pixels
                  if rows.start > y and rows.stop < y + size and cols.start > x and cols.stop < x + size]
        if row.question.startswith("How many"):
            truth = str(len(inside))
        else:
            largest = max(inside, key=lambda i: areas[i])
            cy, cx = np.array(ndi.center_of_mass(window(nuclei_mask, crop) == largest)) + 0.5
            truth = [["top left", "top center", "top right"], ["middle left", "center", "middle right"],
                     ["bottom left", "bottom center", "bottom right"]][int(cy * 3 // size)][int(cx * 3 // size)]
        options = list(row.options)
        assert len(options) == 6 and options[-1] == "None of the above" and row.captions.size == 0
        if row.answer_idx == 5:
            assert truth not in options
        else:
            assert options[row.answer_idx] == truth
    assert cognition["question"].str.startswith("How many").sum() not in (0, len(cognition))  # both kinds
    answers = np.bincount(cognition["answer_idx"], minlength=6)
    assert answers.max() - answers.min() <= 1  # spread evenly, "None of the above" ≈ 1/6


def test_same_seed_is_byte_identical_and_another_seed_differs(builds):
    a, b, other = builds["a"], builds["b"], builds["other"]
    for name in TABLES:
        assert (a / f"{name}.parquet").read_bytes() == (b / f"{name}.parquet").read_bytes()
    pngs = sorted(p.name for p in (a / "images").iterdir())
    assert pngs == sorted(p.name for p in (b / "images").iterdir())
    assert all((a / "images" / n).read_bytes() == (b / "images" / n).read_bytes() for n in pngs)
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    md5 = {root: set(Benchmark(root).images["md5"]) for root in (a, other)}
    assert len(md5[a] & md5[other]) < len(md5[a]) / 4


def test_manifest_records_hashes_and_counts(builds):
    from mubench.io import sha256_file

    manifest = json.loads((builds["a"] / "manifest.json").read_text())
    assert manifest["source"] == "demo" and manifest["seed"] == 7
    assert {"scikit-image", "stardist"} <= set(manifest["revision"])
    for name in TABLES:
        assert manifest["sha256"][f"{name}.parquet"] == sha256_file(Path(builds["a"]) / f"{name}.parquet")
    assert manifest["counts"]["questions"]["coarse"]["stain"] == len(manifest["crops"])
