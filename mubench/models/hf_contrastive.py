"""Contrastive models in transformers' format: CLIP-style (CLIP, PLIP), ALIGN, and BLIP scored by ITC.

``model_id`` is a local folder saved with ``save_pretrained`` or a hub id read at the pinned ``revision`` through
the HF cache ($HF_HOME; HF_HUB_OFFLINE=1 never touches the network). Gated repos read HF_TOKEN from the
environment inside huggingface_hub; this module never handles the token. The entry's preprocessing and
context length are passed to the processor on every call, so they override the repo's processor config.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from PIL import Image

from mubench.models.hub import model_dir, torch_dtype
from mubench.models.spec import ModelSpec

log = logging.getLogger(__name__)

def image_overrides(image_processor, spec: ModelSpec) -> dict:
    """The entry's preprocessing as keyword arguments of the image processor (only the keys it sets)."""
    from transformers.image_utils import PILImageResampling

    pre = spec.preprocessing
    kwargs: dict = {}
    if pre.image_size is not None:
        side = pre.image_size
        resizes_short_edge = getattr(image_processor.size, "shortest_edge", None) is not None
        kwargs["size"] = {"shortest_edge": side} if resizes_short_edge else {"height": side, "width": side}
        if getattr(image_processor, "crop_size", None) is not None:
            kwargs["crop_size"] = {"height": side, "width": side}
    if pre.interpolation is not None:
        kwargs["resample"] = PILImageResampling[pre.interpolation.upper()]
    if pre.mean is not None:
        kwargs["image_mean"] = list(pre.mean)
    if pre.std is not None:
        kwargs["image_std"] = list(pre.std)
    if pre.mean is not None or pre.std is not None:
        kwargs["do_normalize"] = True  # e.g. ALIGN's processor ships with normalisation off
    return kwargs


def pooled(output) -> torch.Tensor:
    """transformers 5 returns a model output whose pooler_output holds the projected features; 4.x a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class HFContrastiveModel:
    """Shared loading and batching; subclasses say which classes to load and how features are computed."""

    model_class: str
    processor_class: str
    text_defaults: ClassVar[dict] = {"padding": True}  # a batch of texts is padded to its longest

    def __init__(self, spec: ModelSpec, device: str = "cpu"):
        import transformers

        folder = model_dir(spec.name, spec.model_id, spec.revision)
        self.dtype = torch_dtype(spec.dtype)
        self.processor = getattr(transformers, self.processor_class).from_pretrained(folder)
        model = getattr(transformers, self.model_class).from_pretrained(folder, dtype=self.dtype)
        self.model = model.to(device).eval()
        self.spec = spec
        self.device = device
        self.image_kwargs = image_overrides(self.processor.image_processor, spec)
        self.text_kwargs = {"truncation": True, **self.text_defaults}
        if spec.context_length is not None:
            self.text_kwargs["max_length"] = spec.context_length
        self.logit_scale = float(self.temperature_scale())
        log.info("loaded %s %s@%s on %s (%s)", self.model_class, spec.model_id, spec.revision, device, spec.dtype)

    @torch.inference_mode()
    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        pixels = self.processor.image_processor(images=list(images), return_tensors="pt", **self.image_kwargs)
        features = self.image_features(pixels["pixel_values"].to(self.device, self.dtype))
        return torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy()

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        tokens = self.processor(text=list(texts), return_tensors="pt", **self.text_kwargs).to(self.device)
        features = self.text_features(tokens)
        return torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy()


class HFClipModel(HFContrastiveModel):
    """CLIPModel: the projected pooled features; the learned logit scale (CLIP, PLIP)."""

    model_class, processor_class = "CLIPModel", "CLIPProcessor"

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return pooled(self.model.get_image_features(pixel_values=pixel_values))

    def text_features(self, tokens) -> torch.Tensor:
        return pooled(self.model.get_text_features(**tokens))

    def temperature_scale(self) -> float:
        return self.model.logit_scale.exp().item()


class HFAlignModel(HFClipModel):
    """AlignModel: same feature API as CLIP; similarities are divided by a learned temperature."""

    model_class, processor_class = "AlignModel", "AlignProcessor"
    text_defaults: ClassVar[dict] = {}  # AlignProcessor pads every text to max_length 64 itself, as the authors ran it

    def temperature_scale(self) -> float:
        return 1.0 / self.model.temperature.item()


class HFBlipITCModel(HFContrastiveModel):
    """BlipForImageTextRetrieval scored by its image-text contrastive (ITC) similarity.

    These are exactly the normalised projections that ``forward(use_itm_head=False)`` multiplies. The paper's
    code scored BLIP with the 2-way image-text-matching head instead, which is a match/no-match classifier
    and not a similarity over options; we follow the DESIGN and use ITC. The retrieval checkpoint keeps no
    learned temperature, so scores use the config's initial CLIP value exp(logit_scale_init_value) = 1/0.07;
    it changes only how peaked the softmax is, never the argmax.
    """

    model_class, processor_class = "BlipForImageTextRetrieval", "BlipProcessor"

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        hidden = self.model.vision_model(pixel_values=pixel_values).last_hidden_state
        return self.model.vision_proj(hidden[:, 0, :])

    def text_features(self, tokens) -> torch.Tensor:
        hidden = self.model.text_encoder(
            input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
        ).last_hidden_state
        return self.model.text_proj(hidden[:, 0, :])

    def temperature_scale(self) -> float:
        return math.exp(self.model.config.logit_scale_init_value)
