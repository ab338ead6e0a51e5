"""open_clip models: pretrained tags, ``hf-hub:`` ids at a pinned revision, local dirs/checkpoints, or random init.

The entry carries its own preprocessing and context length (open_clip registry style), so a new model is one
config entry. Hub access goes through huggingface_hub, which honours HF_HOME and HF_HUB_OFFLINE.
"""

from __future__ import annotations

import logging
from importlib.resources import files
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from mubench.models.base import ModelLoadError
from mubench.models.hub import snapshot_dir
from mubench.models.spec import ModelSpec

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
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
