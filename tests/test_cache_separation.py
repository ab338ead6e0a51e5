"""Cached embeddings and responses are reused across runs of the SAME model only, through the workflow.

The caches are keyed by content (image md5, text hash, prompt); what keeps two models apart is the model's
fingerprint in the cache folder (``results/{benchmark}/cache/{model}/{fingerprint}/``, rules/inference.smk and
rules/detection.smk). Three runs of a small config: the first fills the caches; changing a field that changes the
weights must rerun the model's jobs and reuse nothing; changing only the batch size must reuse everything and give
byte-identical outputs. (The fingerprint in the cache_dir param is also what makes snakemake rerun a changed model:
the ModelSpec param itself is not a type snakemake's params trigger can compare.)
"""

from __future__ import annotations

import copy
import io
import re

import pandas as pd
import pytest
import yaml
from conftest import REPO, copy_workflow, snakemake
from tiny_vlms import save_tiny_paligemma

pytestmark = pytest.mark.workflow

CLIP, PALI = "OpenCLIP-tiny-untrained", "tiny-PaliGemma"
PREDICTIONS = f"results/demo/predictions/{CLIP}/coarse.parquet"
BOXES = f"results/demo/detection/{PALI}/boxes.parquet"
# encode_cached (mubench.answering.embedding_cache) and _ask (mubench.answering.detection) log what they reuse
ENCODED = re.compile(r"(texts|images): (\d+) unique, (\d+) cached, (\d+) to encode")
ASKED = re.compile(r"(\d+) distinct detection prompts, (\d+) cached, (\d+) to ask")


def small_config(pali_weights) -> dict:
    """One subset, the tiny open_clip and a tiny PaliGemma asked for boxes, on a small demo benchmark."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["benchmark"]["demo"].update(crops_per_source=4, synthetic_per_class=3)
    config["subsets"] = ["coarse"]
    clip = next(m for m in config["models"] if m["name"] == CLIP)
    config["models"] = [clip, {"name": PALI, "family": "paligemma", "model_id": str(pali_weights),
                               "max_new_tokens": 8}]
    config["detection"] = {"models": [PALI]}
    config.pop("merging")  # its subsets and trained models are beside the point here
    return config


def run(workdir, config: dict) -> dict:
    """Predictions and boxes for ``config``: their bytes and model fingerprints, the cache folders, and per job
    log line (texts, images, each detection pass) how many keys it needed and how many came from the cache."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))  # replaces the default, no merging with it
    snakemake(workdir, PREDICTIONS, BOXES)
    predict_log = "".join(p.read_text() for p in sorted((workdir / "logs" / "predict").rglob("*.log"))
                          if CLIP in p.parts or CLIP in p.name)
    detect_log = "".join(p.read_text() for p in sorted((workdir / "logs" / "detect").rglob(f"{PALI}*.log")))
    encoded = {}  # kind → one (unique, cached) per encoding pass: the answers, then each caption variant set
    for kind, unique, cached, _ in ENCODED.findall(predict_log):
        encoded.setdefault(kind, []).append((int(unique), int(cached)))
    asked = [(int(distinct), int(cached)) for distinct, cached, _ in ASKED.findall(detect_log)]
    assert set(encoded) == {"texts", "images"} and asked, (predict_log[-2000:], detect_log[-2000:])
    assert all(needed > 0 for needed, _ in [*encoded["texts"], *encoded["images"], *asked])
    return {
        "cached": {**{kind: [c for _, c in passes] for kind, passes in encoded.items()},
                   "prompts": [c for _, c in asked]},
        "needed": {**{kind: [n for n, _ in passes] for kind, passes in encoded.items()},
                   "prompts": [n for n, _ in asked]},
        "predictions": (workdir / PREDICTIONS).read_bytes(),
        "boxes": (workdir / BOXES).read_bytes(),
        "fingerprints": {model: pd.read_parquet(workdir / path)["model_fingerprint"].unique().tolist()
                         for model, path in ((CLIP, PREDICTIONS), (PALI, BOXES))},
        "caches": {model: sorted(p.name for p in (workdir / "results/demo/cache" / model).iterdir())
                   for model in (CLIP, PALI)},
    }


def nothing_cached(result: dict) -> bool:
    """No key came from an earlier run. Within one job, the caption-variant passes reuse the image embeddings of
    the answering pass (same images, other captions), so only the first image pass must encode everything."""
    cached = result["cached"]
    return not any(cached["texts"]) and cached["images"][0] == 0 and not any(cached["prompts"])


def scores(parquet: bytes) -> list[list[float]]:
    return pd.read_parquet(io.BytesIO(parquet))["scores"].map(list).tolist()


def test_changed_weights_reuse_nothing_and_changed_batch_size_reuses_everything(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    base = small_config(save_tiny_paligemma(tmp_path / "pali_seed0", seed=0))

    first = run(workdir, base)
    assert nothing_cached(first)

    # Weights change: the open_clip random init's seed, the PaliGemma folder (another random model).
    other = copy.deepcopy(base)
    next(m for m in other["models"] if m["name"] == CLIP)["seed"] = 1
    next(m for m in other["models"] if m["name"] == PALI)["model_id"] = str(
        save_tiny_paligemma(tmp_path / "pali_seed1", seed=1))
    second = run(workdir, other)
    for model, fingerprints in second["fingerprints"].items():  # remade by the changed model, not kept
        assert len(fingerprints) == 1 and fingerprints != first["fingerprints"][model], (model, fingerprints)
    assert nothing_cached(second), second["cached"]
    assert all(len(second["caches"][m]) == 2 for m in (CLIP, PALI)), second["caches"]  # one folder per model
    assert scores(second["predictions"]) != scores(first["predictions"])
    # (the tiny random PaliGemmas both answer "": their tokens are <loc>/<seg> ids the decoder drops, so their
    # responses cannot differ; the cache counts above show the new model was asked)

    # Only the batch size changes: everything comes from the first run's cache, outputs byte for byte the same.
    rebatched = copy.deepcopy(base)
    for model in rebatched["models"]:
        model["batch_size"] = 3
    third = run(workdir, rebatched)
    assert third["cached"] == third["needed"] == first["needed"]
    assert third["caches"] == second["caches"]
    assert third["predictions"] == first["predictions"]
    assert third["boxes"] == first["boxes"]
