"""open_clip family through the real loading paths: local dir, HF cache at a pinned revision, offline errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import hub_snapshot, tiny_open_clip

from mubench.analyses.merging.weights import write_merged_model
from mubench.models import ModelLoadError, ModelSpec, load_model
from mubench.models.open_clip_family import OpenClipModel

CONFIG_DIR = Path(__file__).resolve().parent.parent / "mubench" / "models" / "open_clip_configs"
REVISION = "0123456789abcdef0123456789abcdef01234567"


def spec(**kw) -> ModelSpec:
    return ModelSpec.from_config(dict(name="m", family="open_clip", **kw))


def save_open_clip_dir(model: OpenClipModel, folder: Path) -> Path:
    """The layout open_clip's hub repos use: open_clip_config.json + open_clip_pytorch_model.bin."""
    folder.mkdir(parents=True, exist_ok=True)
    model_cfg = json.loads((CONFIG_DIR / "mubench-tiny-ViT.json").read_text())
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {}}))
    torch.save(model.model.state_dict(), folder / "open_clip_pytorch_model.bin")
    return folder


@pytest.fixture(scope="module")
def seeded():
    return tiny_open_clip("m", seed=7)


def probe(model) -> tuple[np.ndarray, np.ndarray]:
    image = Image.fromarray(np.arange(48 * 48 * 3, dtype=np.uint8).reshape(48, 48, 3))
    return model.encode_images([image]), model.encode_texts(["a fluorescence micrograph of nuclei"])


def test_random_init_is_seeded(seeded):
    same = tiny_open_clip("m", seed=7)
    other = tiny_open_clip("m", seed=8)
    np.testing.assert_array_equal(probe(seeded)[0], probe(same)[0])
    assert not np.allclose(probe(seeded)[0], probe(other)[0])
    assert spec(architecture="mubench-tiny-ViT", seed=7).fingerprint != spec(architecture="mubench-tiny-ViT",
                                                                              seed=8).fingerprint


def test_entry_preprocessing_and_context_length_are_applied():
    model = tiny_open_clip("m", context_length=32,
                           preprocessing={"image_size": 32, "interpolation": "bilinear",
                                          "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]})
    tensor = model.preprocess(Image.new("RGB", (100, 80), (128, 0, 255)))
    assert tuple(tensor.shape) == (3, 32, 32)
    assert tensor[0].mean().item() == pytest.approx((128 / 255 - 0.5) / 0.25, abs=1e-3)
    assert model.tokenizer(["x"]).shape[-1] == 32


def test_local_dir_loads_the_saved_weights(seeded, tmp_path):
    folder = save_open_clip_dir(seeded, tmp_path / "tiny")
    loaded = load_model(spec(architecture=f"local-dir:{folder}"))
    for a, b in zip(probe(seeded), probe(loaded)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_local_dir_without_weights_is_refused(seeded, tmp_path):
    folder = save_open_clip_dir(seeded, tmp_path / "tiny")
    (folder / "open_clip_pytorch_model.bin").unlink()
    with pytest.raises(ModelLoadError, match="no weights file"):
        load_model(spec(architecture=f"local-dir:{folder}"))


def test_hf_hub_id_loads_from_hf_home_cache_at_pinned_revision(seeded, tmp_path):
    """A user's `hf-hub:` entry, offline, served from $HF_HOME exactly as huggingface_hub caches it; merged as the
    tuned model of a pair (as QuiltNet is in M-QuiltNet), its open_clip config comes from the same snapshot."""
    save_open_clip_dir(seeded, hub_snapshot("mubench/tiny-clip", REVISION))
    entry = spec(architecture="hf-hub:mubench/tiny-clip", revision=REVISION)
    np.testing.assert_allclose(probe(load_model(entry))[0], probe(seeded)[0], atol=1e-6)
    write_merged_model(entry, entry, 0.5, tmp_path / "merged")
    written = json.loads((tmp_path / "merged" / "open_clip_config.json").read_text())["model_cfg"]
    assert written == json.loads((CONFIG_DIR / "mubench-tiny-ViT.json").read_text())


def test_offline_hub_model_fails_at_once_naming_model_and_remedy(tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError) as err:
        load_model(spec(architecture="hf-hub:wisdomik/QuiltNet-B-32", revision=REVISION))
    message = str(err.value)
    assert "'m'" in message and "wisdomik/QuiltNet-B-32" in message and "HF_HOME" in message


def test_offline_pretrained_tag_fails_naming_model():
    with pytest.raises(ModelLoadError, match="laion2b_s34b_b79k"):
        load_model(spec(architecture="ViT-B-32", pretrained="laion2b_s34b_b79k"))
