"""Weight merging (appendix G.2): θ_M = α·θ_base + (1−α)·θ_tuned per tensor, and HF ↔ open_clip CLIP layouts.

Pure functions on state dicts (name → tensor). Interpolation needs both models in one key layout: PLIP and CLIP are
transformers ``CLIPModel`` checkpoints, OpenCLIP and QuiltNet open_clip ones, so a mixed pair is converted first.
The conversion covers the plain CLIP ViT + causal text transformer that all four share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

MAX_LISTED = 8  # mismatches named in an error message; the count says how many more there are

StateDict = Mapping[str, torch.Tensor]


class MergeError(ValueError):
    """Two checkpoints cannot be merged or converted; the message names the keys and the remedy."""


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" … and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def check_mergeable(base: StateDict, tuned: StateDict, names: tuple[str, str] = ("base", "tuned")) -> None:
    """Refuse unless both have the same keys with the same shapes, naming the first differences."""
    problems = []
    only_base = sorted(set(base) - set(tuned))
    only_tuned = sorted(set(tuned) - set(base))
    if only_base:
        problems.append(f"{len(only_base)} keys only in {names[0]}: {_listed(only_base)}")
    if only_tuned:
        problems.append(f"{len(only_tuned)} keys only in {names[1]}: {_listed(only_tuned)}")
    shapes = [f"{k} {tuple(base[k].shape)} vs {tuple(tuned[k].shape)}"
              for k in sorted(set(base) & set(tuned)) if base[k].shape != tuned[k].shape]
    if shapes:
        problems.append(f"{len(shapes)} shape differences ({names[0]} vs {names[1]}): {_listed(shapes)}")
    if problems:
        raise MergeError(
            f"cannot merge {names[0]} and {names[1]}: the architectures differ — " + "; ".join(problems)
            + ". Both models must share one architecture (convert HF CLIPModel ↔ open_clip layouts first)."
        )


def interpolate(base: StateDict, tuned: StateDict, alpha: float,
                names: tuple[str, str] = ("base", "tuned")) -> dict[str, torch.Tensor]:
    """α·base + (1−α)·tuned for every floating tensor; integer buffers must agree and are copied."""
    if not 0.0 <= alpha <= 1.0:
        raise MergeError(f"alpha must lie in [0, 1], got {alpha}")
    check_mergeable(base, tuned, names)
    merged = {}
    for key, t in tuned.items():
        b = base[key]
        if t.is_floating_point():
            mixed = alpha * b.to(torch.float64) + (1.0 - alpha) * t.to(torch.float64)
            merged[key] = mixed.to(t.dtype)
        elif torch.equal(b, t):
            merged[key] = t.clone()
        else:
            raise MergeError(f"cannot merge {names[0]} and {names[1]}: non-float tensor {key!r} differs")
    return merged


# transformers CLIPModel ↔ open_clip CLIP, per encoder layer (q/k/v are stacked into open_clip's in_proj).
_LAYER_NAMES = {
    "layer_norm1": "ln_1", "layer_norm2": "ln_2", "self_attn.out_proj": "attn.out_proj",
    "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
}
# Tensors outside the encoder layers; the projections are nn.Linear in HF (out × in), matrices in open_clip (in × out).
_GLOBAL_NAMES = {
    "logit_scale": "logit_scale",
    "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
    "text_model.embeddings.position_embedding.weight": "positional_embedding",
    "text_model.final_layer_norm.weight": "ln_final.weight",
    "text_model.final_layer_norm.bias": "ln_final.bias",
    "vision_model.embeddings.class_embedding": "visual.class_embedding",
    "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
    "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
    "vision_model.pre_layrnorm.weight": "visual.ln_pre.weight",  # sic: transformers' spelling
    "vision_model.pre_layrnorm.bias": "visual.ln_pre.bias",
    "vision_model.post_layernorm.weight": "visual.ln_post.weight",
    "vision_model.post_layernorm.bias": "visual.ln_post.bias",
}
_TRANSPOSED = {"visual_projection.weight": "visual.proj", "text_projection.weight": "text_projection"}
_TOWERS = {"text_model": "transformer", "vision_model": "visual.transformer"}
_HF_LAYER = re.compile(r"^(text_model|vision_model)\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$")
_OC_LAYER = re.compile(r"^(transformer|visual\.transformer)\.resblocks\.(\d+)\.(.+?)\.?(weight|bias|in_proj_weight|in_proj_bias)$")
_HF_IGNORED = re.compile(r"\.position_ids$")  # a buffer some transformers versions save; rebuilt on load


def hf_clip_to_open_clip(state: StateDict) -> dict[str, torch.Tensor]:
    """A transformers CLIPModel state dict in open_clip's CLIP layout (ViT image tower, CLIP text tower)."""
    out, unknown, qkv = {}, [], {}
    for key, value in state.items():
        if _HF_IGNORED.search(key):
            continue
        if key in _GLOBAL_NAMES:
            out[_GLOBAL_NAMES[key]] = value
        elif key in _TRANSPOSED:
            out[_TRANSPOSED[key]] = value.t().contiguous()
        elif match := _HF_LAYER.match(key):
            tower, layer, name, kind = match.groups()
            prefix = f"{_TOWERS[tower]}.resblocks.{layer}"
            if name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
                qkv.setdefault((prefix, kind), {})[name[-6]] = value
            elif name in _LAYER_NAMES:
                out[f"{prefix}.{_LAYER_NAMES[name]}.{kind}"] = value
            else:
                unknown.append(key)
        else:
            unknown.append(key)
    for (prefix, kind), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise MergeError(f"HF CLIP checkpoint: {prefix} ({kind}) lacks one of q_proj/k_proj/v_proj")
        out[f"{prefix}.attn.in_proj_{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    if unknown:
        raise MergeError(f"not a plain HF CLIPModel (ViT) checkpoint; unknown keys: {_listed(sorted(unknown))}")
    return out


def open_clip_to_hf_clip(state: StateDict) -> dict[str, torch.Tensor]:
    """An open_clip CLIP (ViT, built-in text tower) state dict in transformers' CLIPModel layout."""
    to_hf = {oc: hf for hf, oc in _GLOBAL_NAMES.items()}
    to_hf_transposed = {oc: hf for hf, oc in _TRANSPOSED.items()}
    to_hf_layer = {oc: hf for hf, oc in _LAYER_NAMES.items()}
    to_hf_tower = {oc: hf for hf, oc in _TOWERS.items()}
    out, unknown = {}, []
    for key, value in state.items():
        if key in to_hf:
            out[to_hf[key]] = value
        elif key in to_hf_transposed:
            out[to_hf_transposed[key]] = value.t().contiguous()
        elif match := _OC_LAYER.match(key):
            tower, layer, name, kind = match.groups()
            prefix = f"{to_hf_tower[tower]}.encoder.layers.{layer}"
            if name == "attn" and kind.startswith("in_proj_"):
                for part, tensor in zip("qkv", value.chunk(3, dim=0)):
                    out[f"{prefix}.self_attn.{part}_proj.{kind.removeprefix('in_proj_')}"] = tensor.contiguous()
            elif name in to_hf_layer:
                out[f"{prefix}.{to_hf_layer[name]}.{kind}"] = value
            else:
                unknown.append(key)
        else:
            unknown.append(key)
    if unknown:
        raise MergeError(
            f"not a plain open_clip CLIP (ViT + built-in text tower) checkpoint; unknown keys: {_listed(sorted(unknown))}"
        )
    return out


LAYOUT_CONVERTERS = {("hf_clip", "open_clip"): hf_clip_to_open_clip, ("open_clip", "hf_clip"): open_clip_to_hf_clip}


def to_layout(state: StateDict, source: str, target: str) -> dict[str, torch.Tensor]:
    """The state dict in the ``target`` family's key layout (identity when the families match)."""
    if source == target:
        return dict(state)
    if (source, target) not in LAYOUT_CONVERTERS:
        raise MergeError(f"no key conversion from {source!r} to {target!r} checkpoints; supported: "
                         + ", ".join(f"{a}→{b}" for a, b in LAYOUT_CONVERTERS))
    return LAYOUT_CONVERTERS[(source, target)](state)


def open_clip_config_from_hf(config) -> dict:
    """The open_clip ``model_cfg`` of a transformers CLIPConfig (the same network, for converted weights)."""
    text, vision = config.text_config, config.vision_config
    acts = {text.hidden_act, vision.hidden_act}
    if not acts <= {"quick_gelu", "gelu"} or len(acts) != 1:
        raise MergeError(f"HF CLIP activations {sorted(acts)} have no open_clip equivalent (quick_gelu or gelu)")
    return {
        "embed_dim": config.projection_dim,
        "quick_gelu": acts == {"quick_gelu"},
        "vision_cfg": {
            "image_size": vision.image_size, "patch_size": vision.patch_size, "width": vision.hidden_size,
            "layers": vision.num_hidden_layers, "head_width": vision.hidden_size // vision.num_attention_heads,
            "mlp_ratio": vision.intermediate_size / vision.hidden_size,
        },
        "text_cfg": {
            "context_length": text.max_position_embeddings, "vocab_size": text.vocab_size, "width": text.hidden_size,
            "heads": text.num_attention_heads, "layers": text.num_hidden_layers,
            "mlp_ratio": text.intermediate_size / text.hidden_size,
        },
    }
