"""pHash near-duplicates: packed hashes equal imagehash's, vectorised distances equal its `-`, and what counts as
similar on hand-made images; Table 14 averages and the Table 1 robustness check."""

from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
import pytest
import skimage.data
from PIL import Image

from conftest import bootstrap_settings

from mubench.analyses import phash
from mubench.figures.table14 import build_table14, read_reference
from mubench.scoring.robustness import robustness_check
from mubench.analyses.phash import (
    datasets_above,
    as_uint64,
    hamming_matrix,
    hash_bytes,
    image_hashes,
    nearest_other_distance,
    similarity_table,
    with_averages,
)

REFERENCE = Path(__file__).resolve().parent.parent / "paper_figures" / "reference" / "paper_table14_phash.csv"
THRESHOLD = 5


def _save(image: Image.Image, path: Path) -> Path:
    image.save(path)
    return path


def _distance(a: Path, b: Path) -> int:
    return int(hamming_matrix(as_uint64(hash_bytes(a)[None]), as_uint64(hash_bytes(b)[None]))[0, 0])


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> dict[str, Path]:
    """A real micrograph, edited copies of it, and unrelated images, as PNG files."""
    folder = tmp_path_factory.mktemp("phash")
    base = Image.fromarray(skimage.data.immunohistochemistry()).resize((256, 256))
    pixels = np.asarray(base).astype(float)
    noisy = np.clip(pixels + np.random.default_rng(0).normal(0, 4, pixels.shape), 0, 255).astype(np.uint8)
    w, h = base.size
    images = {
        "base": base,
        "copy": base.copy(),
        "noise": Image.fromarray(noisy),
        "crop": base.crop((4, 4, w - 4, h - 4)).resize((w, h)),  # ~3 % trimmed off each side
        "resize": base.resize((128, 128)),
        "flip": base.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "cell": Image.fromarray(skimage.data.cell()).convert("RGB").resize((256, 256)),
        "coins": Image.fromarray(skimage.data.coins()).resize((256, 256)),
    }
    return {name: _save(image, folder / f"{name}.png") for name, image in images.items()}


def test_packed_hash_equals_imagehash_hex(variants):
    for path in variants.values():
        with Image.open(path) as image:
            expected = str(imagehash.phash(image, hash_size=8))
        assert f"{int(as_uint64(hash_bytes(path)[None])[0]):016x}" == expected


def test_vectorised_distances_equal_imagehash_subtraction():
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, (40, 8, 8)).astype(bool)
    bits[5] = bits[3]  # an exact duplicate
    bits[7] = bits[3]
    bits[7, 0, :3] ^= True  # three bits away
    hashes = [imagehash.ImageHash(b) for b in bits]
    packed = as_uint64(np.packbits(bits.reshape(40, 64), axis=1))
    expected = np.array([[a - b for b in hashes] for a in hashes])
    assert (hamming_matrix(packed, packed) == expected).all()
    off_diagonal = np.where(np.eye(40, dtype=bool), 255, expected)
    assert (nearest_other_distance(packed, block=7) == off_diagonal.min(axis=1)).all()


@pytest.mark.parametrize("edit", ["copy", "noise", "crop", "resize"])
def test_copies_and_slight_edits_are_near(variants, edit):
    assert _distance(variants["base"], variants[edit]) <= THRESHOLD


@pytest.mark.parametrize("other", ["flip", "cell", "coins"])
def test_unrelated_images_and_mirror_images_are_far(variants, other):
    # pHash is not flip-invariant: a mirrored micrograph counts as a different image
    assert _distance(variants["base"], variants[other]) > THRESHOLD


def test_similarity_counts_only_within_a_dataset():
    near, far1, far2 = 0x0F0F0F0F0F0F0F0F, 0xFFFF000000000000, 0x0000FFFF0000FFFF
    hashes = np.array([near, near ^ 0b111, near, far1, far2, near], dtype=np.uint64)
    datasets = ["a", "a", "a", "a", "a", "b"]  # b's lone image equals a's but is in another dataset
    table = similarity_table(datasets, hashes, THRESHOLD).set_index("dataset")
    assert table.loc["a", ["similar_images", "total_images"]].tolist() == [3, 5]
    assert table.loc["b", "similar_images"] == 0
    assert table.loc["a", "percent_similar"] == pytest.approx(60.0)
    assert similarity_table(datasets, hashes, 2).loc[0, "similar_images"] == 2  # 3 bits apart: not within 2


def test_paper_averages_follow_from_its_rows():
    averages = with_averages(read_reference(REFERENCE)).set_index("dataset")["percent_similar"]
    assert averages["weighted average"] == pytest.approx(13.44, abs=0.01)  # 2327 / 17315; the paper prints 13.43
    assert averages["macro average"] == pytest.approx(14.93, abs=0.01)


def test_table14_puts_paper_values_beside_ours():
    ours = pd.DataFrame({"dataset": ["held_et_al_2010_h2b", "mine"], "similar_images": [10, 0],
                         "total_images": [20, 5], "percent_similar": [50.0, 0.0]})
    table = build_table14(ours, read_reference(REFERENCE)).set_index("dataset")
    assert table.loc["held_et_al_2010_h2b", "paper_percent_similar"] == 36.53
    assert pd.isna(table.loc["mine", "paper_percent_similar"])
    assert table.loc["weighted average", "percent_similar"] == 40.0
    assert datasets_above(ours, 49.9) == ["held_et_al_2010_h2b"]
    assert datasets_above(ours, 50) == []  # "above", not "at"


def test_image_hashes_are_cached_and_parallel_equals_serial(variants, tmp_path, monkeypatch):
    paths = list(variants.values())
    md5s = [f"md5-{p.stem}" for p in paths]
    serial = image_hashes(paths, md5s, tmp_path / "serial", workers=1)
    parallel = image_hashes(paths, md5s, tmp_path / "parallel", workers=2, chunk=3)
    assert (serial == parallel).all()

    def must_not_hash(path):
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(phash, "hash_bytes", must_not_hash)
    assert (image_hashes(paths, md5s, tmp_path / "parallel", workers=2) == serial).all()


def test_missing_image_is_named(tmp_path):
    with pytest.raises(OSError, match="nope.png"):
        hash_bytes(tmp_path / "nope.png")


def _predictions(correct_by_model: dict[str, dict[str, list[int]]]) -> pd.DataFrame:
    rows = []
    for model, by_dataset in correct_by_model.items():
        for dataset, outcomes in by_dataset.items():
            rows += [dict(model=model, subset="fine", question_type="classification", dataset=dataset,
                          image_id=f"{dataset}{i}", correct=bool(c)) for i, c in enumerate(outcomes)]
    return pd.DataFrame(rows)


def test_robustness_check_rescoring_and_ranking():
    # A leads only thanks to the duplicated dataset "dup"; without it B leads.
    predictions = _predictions({
        "A": {"dup": [1] * 10, "clean": [1, 0, 0, 0]},
        "B": {"dup": [0] * 10, "clean": [1, 1, 1, 0]},
    })
    settings = bootstrap_settings(n_resamples=99)
    per_model, summary = robustness_check(predictions, ["dup"], {"A": "Model A"}, settings)
    rows = per_model.set_index("model")
    assert rows.loc["Model A", "accuracy"] == pytest.approx(100 * 11 / 14, abs=0.01)
    assert rows.loc["Model A", "accuracy_without_similar"] == 25.0
    assert rows.loc["B", "change"] == pytest.approx(75.0 - 100 * 3 / 14, abs=0.01)
    assert (rows.loc["Model A", "rank"], rows.loc["Model A", "rank_without_similar"]) == (1, 2)
    fine = summary.set_index("subset").loc["fine"]
    assert bool(fine["ranking_changed"]) and fine["excluded_datasets"] == "dup"
    assert fine["mean_abs_change"] == pytest.approx(
        (abs(25 - 100 * 11 / 14) + abs(75 - 100 * 3 / 14)) / 2, abs=0.01)

    unchanged, summary = robustness_check(predictions, [], {}, settings)
    assert (unchanged["change"] == 0).all() and not summary["ranking_changed"].any()
