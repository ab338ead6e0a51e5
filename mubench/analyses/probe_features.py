"""DINOv2 ViT-S/14 image features for the linear probe (appendix E.2), computed once per image and cached.

Two backends load the same architecture: timm (`vit_small_patch14_dinov2`) and transformers (`Dinov2Model`,
e.g. `facebook/dinov2-small`). ``pretrained: null`` builds an untrained, seeded ViT-S/14 of the same shape — the
offline demo's stand-in, labelled as untrained everywhere. Preprocessing is ours for both backends (resize the
short side, centre crop, normalise) so the config alone decides it and the cache key covers it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mubench.benchmark.tables import load_image
from mubench.answering.embedding_cache import EmbeddingCache, encode_cached
from mubench.models import resolve_device
from mubench.models.base import ModelLoadError

log = logging.getLogger(__name__)

FEATURES_VERSION = "probe-features-v1"  # bump when the feature computation changes
POOLINGS = ("cls", "cls_mean_patch")
PATCH_SIZE = 14
# DINOv2 ViT-S/14 (facebook/dinov2-small): the untrained transformers model is built with this shape.
VIT_S14 = dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4, patch_size=PATCH_SIZE,
               image_size=518)
HOW_TO_PROVIDE = (
    "Put the weights in the HF cache ($HF_HOME) on a machine with network access, point `probe.features.pretrained` "
    "at a local file (timm) or folder (transformers), or set it to null for the untrained demo model."
)


@dataclass(frozen=True, kw_only=True)
class FeatureSettings:
    """``probe.features`` from the config; every field except batch_size/device changes the features."""

    backend: str  # timm | transformers
    architecture: str  # timm model name (transformers: ignored, ViT-S/14 config)
    pretrained: str | None = None  # timm: hf-hub:org/repo or a weights file; transformers: hub id or folder
    revision: str | None = None
    seed: int
    pooling: str
    image_size: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    batch_size: int
    device: str
    label: str | None = None

    @classmethod
    def from_config(cls, entry: dict) -> "FeatureSettings":
        values = dict(entry)
        for key in ("mean", "std"):
            if key in values:
                values[key] = tuple(values[key])
        settings = cls(**values)
        if settings.pooling not in POOLINGS:
            raise ValueError(f"probe.features.pooling: {settings.pooling!r} is not one of {POOLINGS}")
        if settings.image_size % PATCH_SIZE:
            raise ValueError(f"probe.features.image_size: {settings.image_size} is not a multiple of {PATCH_SIZE}")
        return settings

    @property
    def untrained(self) -> bool:
        return self.pretrained is None

    @property
    def display_label(self) -> str:
        """What tables and figures call the feature model; an untrained model says so plainly."""
        if self.label:
            return self.label
        if self.untrained:
            return f"ViT-S/14 UNTRAINED (random init seed {self.seed}; not DINOv2 weights)"
        return f"DINOv2 ViT-S/14 ({self.pretrained})"

    @property
    def fingerprint(self) -> str:
        keyed = {k: v for k, v in asdict(self).items() if k not in {"batch_size", "device", "label"}}
        keyed["version"] = FEATURES_VERSION
        if self.backend == "transformers":
            keyed.pop("architecture")
        return hashlib.sha1(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]


def _hub_file(repo_id: str, revision: str | None) -> str:
    """The weights file of a timm hub repo at the pinned revision (HF cache first; offline-safe)."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id, revision=revision))
    except Exception as err:  # huggingface_hub raises several offline/not-found types
        raise ModelLoadError(f"probe features: weights {repo_id}@{revision or 'main'} are not available "
                             f"({type(err).__name__}: {err}). {HOW_TO_PROVIDE}") from err
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return str(folder / name)
    raise ModelLoadError(f"probe features: {folder} has no model.safetensors or pytorch_model.bin. {HOW_TO_PROVIDE}")


class TimmViT:
    def __init__(self, settings: FeatureSettings, device: str):
        import timm
        import torch

        torch.manual_seed(settings.seed)
        kwargs = dict(num_classes=0, img_size=settings.image_size)
        if settings.pretrained is not None:
            if settings.pretrained.startswith("hf-hub:"):
                weights = _hub_file(settings.pretrained.removeprefix("hf-hub:"), settings.revision)
            elif Path(settings.pretrained).is_file():
                weights = settings.pretrained
            else:
                raise ModelLoadError(f"probe.features.pretrained: {settings.pretrained!r} is neither hf-hub:org/repo "
                                     f"nor an existing weights file. {HOW_TO_PROVIDE}")
            kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": weights})
        self.model = timm.create_model(settings.architecture, **kwargs).to(device).eval()
        self.prefix_tokens = self.model.num_prefix_tokens

    def tokens(self, batch):
        return self.model.forward_features(batch)


class TransformersDinov2:
    def __init__(self, settings: FeatureSettings, device: str):
        import torch
        from transformers import Dinov2Config, Dinov2Model

        if settings.pretrained is None:
            torch.manual_seed(settings.seed)
            model = Dinov2Model(Dinov2Config(**VIT_S14))
        else:
            try:
                model = Dinov2Model.from_pretrained(settings.pretrained, revision=settings.revision)
            except OSError as err:
                raise ModelLoadError(f"probe features: cannot load {settings.pretrained}@"
                                     f"{settings.revision or 'main'} ({err}). {HOW_TO_PROVIDE}") from err
        self.model = model.to(device).eval()
        self.prefix_tokens = 1 + getattr(model.config, "num_register_tokens", 0)

    def tokens(self, batch):
        return self.model(pixel_values=batch).last_hidden_state  # layer-normed, like timm's forward_features


BACKENDS = {"timm": TimmViT, "transformers": TransformersDinov2}


class FeatureExtractor:
    """Preprocess, run the ViT, pool: CLS token (384-d) or CLS ‖ mean of patch tokens (768-d)."""

    def __init__(self, settings: FeatureSettings):
        import torch
        from torchvision import transforms

        if settings.backend not in BACKENDS:
            raise ValueError(f"probe.features.backend: {settings.backend!r} is not one of {sorted(BACKENDS)}")
        self.device = resolve_device(settings.device)
        self.settings = settings
        self.backbone = BACKENDS[settings.backend](settings, self.device)
        self.transform = transforms.Compose([
            transforms.Resize(settings.image_size, interpolation=transforms.InterpolationMode(settings.interpolation)),
            transforms.CenterCrop(settings.image_size),
            transforms.ToTensor(),
            transforms.Normalize(settings.mean, settings.std),
        ])
        self._torch = torch
        log.info("probe features: %s via %s on %s", settings.display_label, settings.backend, self.device)

    def __call__(self, images: Sequence) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            batch = torch.stack([self.transform(im) for im in images]).to(self.device)
            tokens = self.backbone.tokens(batch).float()
            cls = tokens[:, 0]
            if self.settings.pooling == "cls_mean_patch":
                cls = torch.cat([cls, tokens[:, self.backbone.prefix_tokens:].mean(dim=1)], dim=1)
            return cls.cpu().numpy()


def image_features(images: pd.DataFrame, root: Path, settings: FeatureSettings, cache_dir: Path) -> np.ndarray:
    """One feature row per row of ``images`` (columns md5, path), each distinct image encoded once and cached.

    The cache folder is named by the settings' fingerprint and keyed by image md5, so a rerun, another
    benchmark with the same images, or an interrupted job recomputes only what is missing.
    """
    cache = EmbeddingCache(Path(cache_dir) / settings.fingerprint)
    files = dict(zip(images["md5"], images["path"]))
    todo = cache.missing(images["md5"])
    extractor = FeatureExtractor(settings) if todo else None
    return encode_cached(list(images["md5"]), lambda md5: load_image(root / files[md5]), extractor, cache,
                         settings.batch_size, "probe features")
