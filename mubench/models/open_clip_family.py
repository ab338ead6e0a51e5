"""open_clip models: pretrained tags, ``hf-hub:`` ids at a pinned revision, local dirs/checkpoints, or random init.

The entry carries its own preprocessing and context length (open_clip registry style), so a new model is one
config entry. Hub access goes through huggingface_hub, which honours HF_HOME and HF_HUB_OFFLINE.
"""

from __future__ import annotations

import logging
import os
from importlib.resources import files
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from mubench.checks import ERROR, MISSING, OK, Check
from mubench.hf_cache import cache_description
from mubench.models.base import ModelLoadError
from mubench.models.hub import WEIGHT_SUFFIXES, folder_or_hub_check, how_to_provide, snapshot_dir
from mubench.models.spec import ModelSpec

log = logging.getLogger(__name__)

PRECISIONS = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}
HOW_TO_PROVIDE = (
    "Provide the weights on a machine with network access (they land in $HF_HOME), point `pretrained` at a local "
    "checkpoint file, or use `architecture: local-dir:/path/to/model` (open_clip_config.json + weights)."
)


def _require_local_weights(spec: ModelSpec, local_dir: str) -> None:
    """open_clip only warns when a local dir has no weights and then runs random ones: refuse instead."""
    folder = Path(local_dir)
    if not any(path.suffix in WEIGHT_SUFFIXES for path in folder.iterdir()):
        raise ModelLoadError(
            f"model {spec.name!r}: {folder} has no weights file ({', '.join(WEIGHT_SUFFIXES)}). {HOW_TO_PROVIDE}"
        )


class OpenClipModel:
    def __init__(self, spec: ModelSpec, device: str = "cpu"):
        import open_clip

        open_clip.add_model_config(Path(str(files("mubench.models").joinpath("open_clip_configs"))))
        model_name = spec.architecture
        if model_name.startswith("hf-hub:"):
            model_name = "local-dir:" + snapshot_dir(spec.name, model_name.removeprefix("hf-hub:"), spec.revision)
        if model_name.startswith("local-dir:"):
            _require_local_weights(spec, model_name.removeprefix("local-dir:"))
        if spec.pretrained is None and not model_name.startswith("local-dir:"):
            torch.manual_seed(spec.seed)  # random initialisation is part of the model's identity
        pre = spec.preprocessing
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name,
                pretrained=spec.pretrained,
                precision=PRECISIONS[spec.dtype],
                device=device,
                force_image_size=pre.image_size,
                force_context_length=spec.context_length,
                image_mean=pre.mean,
                image_std=pre.std,
                image_interpolation=pre.interpolation,
            )
        except RuntimeError as err:
            if spec.pretrained is None:
                raise
            raise ModelLoadError(
                f"model {spec.name!r}: cannot load pretrained weights {spec.pretrained!r} for "
                f"{spec.architecture} ({err}). {HOW_TO_PROVIDE}"
            ) from err
        model.eval()
        self.model_name = model_name  # what open_clip loaded: a registry name, or local-dir: (hf-hub ids resolved)
        self.spec = spec
        self.device = device
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(model_name, context_length=spec.context_length)
        self.logit_scale = float(model.logit_scale.exp().item())
        self.dtype = next(model.parameters()).dtype
        log.info("loaded open_clip %s (pretrained=%s) on %s", spec.architecture, spec.pretrained, device)

    @torch.inference_mode()
    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        batch = torch.stack([self.preprocess(im) for im in images]).to(self.device, self.dtype)
        return self.model.encode_image(batch, normalize=True).float().cpu().numpy()

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        tokens = self.tokenizer(list(texts)).to(self.device)
        return self.model.encode_text(tokens, normalize=True).float().cpu().numpy()


def weights_check(item: str, spec: ModelSpec) -> Check:
    """Weights hook: the entry's weights found offline as loading them would (hub snapshot, local dir, open_clip
    tag in the HF or torch cache, checkpoint file), or a random initialisation that needs none."""
    import open_clip
    from huggingface_hub import try_to_load_from_cache
    from open_clip.pretrained import HF_WEIGHTS_NAME, get_pretrained_cfg

    architecture = spec.architecture or ""
    if architecture.startswith("hf-hub:"):
        return folder_or_hub_check(item, architecture.removeprefix("hf-hub:"), spec.revision)
    if architecture.startswith("local-dir:"):
        return folder_or_hub_check(item, architecture.removeprefix("local-dir:"), None)
    open_clip.add_model_config(Path(str(files("mubench.models").joinpath("open_clip_configs"))))
    if architecture not in open_clip.list_models():
        return Check(item, ERROR, f"open_clip knows no architecture {architecture!r}",
                     "use a name from open_clip.list_models(), hf-hub:org/repo or local-dir:/path")
    if spec.pretrained is None:
        return Check(item, OK, f"{architecture}, random initialisation (seed {spec.seed}): no weights needed")
    if Path(spec.pretrained).expanduser().is_file():
        return Check(item, OK, f"checkpoint file {spec.pretrained}")
    cfg = get_pretrained_cfg(architecture, spec.pretrained)
    if not cfg:
        return Check(item, ERROR, f"{architecture} has no pretrained tag or file {spec.pretrained!r}",
                     f"tags: {', '.join(open_clip.list_pretrained_tags_by_model(architecture))}")
    if cfg.get("hf_hub"):
        repo_id, filename = os.path.split(cfg["hf_hub"])  # "org/repo/" means the default weights file
        filename = filename or HF_WEIGHTS_NAME
        stem = filename.rsplit(".", 1)[0]
        for candidate in (f"{stem}.safetensors", "open_clip_model.safetensors", filename):
            found = try_to_load_from_cache(repo_id, candidate, revision=spec.revision)
            if isinstance(found, str):
                return Check(item, OK, f"HF cache {found}")
        return Check(item, MISSING, f"{architecture}/{spec.pretrained}: {repo_id}/{filename} not in the HF cache "
                                    f"{cache_description()}", how_to_provide(repo_id, spec.revision))
    url = cfg.get("url", "")
    target = Path(os.environ.get("TORCH_HOME", "~/.cache")).expanduser() / "clip" / os.path.basename(url)
    if target.is_file() or (Path("~/.cache/clip").expanduser() / os.path.basename(url)).is_file():
        return Check(item, OK, f"open_clip cache {target}")
    return Check(item, MISSING, f"{architecture}/{spec.pretrained}: {os.path.basename(url)} not downloaded",
                 f"on a machine with network, load the model once (downloads {url}), or set `pretrained` to the file")
