"""Write one merged model as an ordinary model folder in the tuned model's family (open_clip or transformers).

Both parents are loaded through the FAMILIES registry (the same code, weights resolution and overrides as
inference); the base is converted into the tuned model's key layout when the families differ; the folder keeps
the tuned model's configuration, tokenizer and preprocessing, as the paper's merged models did.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mubench.io import atomic_write, write_json
from mubench.analyses.merging.convert import interpolate, to_layout
from mubench.models import load_model
from mubench.models.spec import ModelSpec

log = logging.getLogger(__name__)


def _open_clip_config(adapter) -> dict:
    """open_clip_config.json of a loaded open_clip model: its model config and the preprocessing it ran with."""
    import open_clip

    model_cfg = open_clip.get_model_config(adapter.model_name)  # an hf-hub: id, resolved to its pinned snapshot
    if model_cfg is None:
        raise ValueError(f"model {adapter.spec.name!r}: no open_clip config found for {adapter.model_name!r}")
    return {"model_cfg": model_cfg, "preprocess_cfg": dict(adapter.model.visual.preprocess_cfg)}


def write_merged_models(base: ModelSpec, tuned: ModelSpec, out_dirs: dict[float, str | Path]) -> list[dict]:
    """θ = α·θ_base + (1−α)·θ_tuned into ``out_dirs[α]`` for every α; both parents are loaded (and the base
    converted) once. Returns the record written beside each folder's weights."""
    base_model, tuned_model = load_model(base), load_model(tuned)
    base_state = to_layout(base_model.model.state_dict(), base.family, tuned.family)
    # a copy: writing a transformers folder loads each merged state into the tuned model, which shares these tensors
    tuned_state = {key: tensor.detach().clone() for key, tensor in tuned_model.model.state_dict().items()}
    records = []
    for alpha, out_dir in out_dirs.items():
        merged = interpolate(base_state, tuned_state, alpha, names=(base.name, tuned.name))
        records.append(_write_folder(base, tuned, tuned_model, merged, alpha, Path(out_dir)))
    return records


def write_merged_model(base: ModelSpec, tuned: ModelSpec, alpha: float, out_dir: str | Path) -> dict:
    """One α of write_merged_models."""
    return write_merged_models(base, tuned, {alpha: out_dir})[0]


def _write_folder(base: ModelSpec, tuned: ModelSpec, tuned_model, merged: dict, alpha: float, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    if tuned.family == "open_clip":
        from safetensors.torch import save_file

        write_json(out_dir / "open_clip_config.json", _open_clip_config(tuned_model))
        state = {k: v.contiguous() for k, v in merged.items()}
        atomic_write(out_dir / "open_clip_model.safetensors", lambda tmp: save_file(state, tmp))
    else:
        tuned_model.model.load_state_dict(merged, strict=True)
        tuned_model.model.save_pretrained(out_dir)
        tuned_model.processor.save_pretrained(out_dir)
    record = {"alpha": alpha, "base": base.name, "base_family": base.family, "base_fingerprint": base.fingerprint,
              "tuned": tuned.name, "tuned_family": tuned.family, "tuned_fingerprint": tuned.fingerprint,
              "layout": tuned.family, "converted": base.family != tuned.family, "tensors": len(merged)}
    write_json(out_dir / "merge.json", record)
    log.info("merged %s (α=%g) with %s (1−α) over %d tensors → %s", base.name, alpha, tuned.name, len(merged),
             out_dir)
    return record
