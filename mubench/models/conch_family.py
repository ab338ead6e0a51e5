"""CONCH (MahmoodLab): a CoCa-style pathology model with its own package and gated weights.

The ``conch`` package is an optional extra imported only when a CONCH entry is loaded: the authors publish it on
GitHub only; ``conch-fork==0.1.0`` on PyPI repackages their 0.1.0 under the same import name (CC-BY-NC-ND 4.0, like
the weights) and is what the contrastive image installs (containers/openclip.lock).
``model_id`` is the gated hub repo (read at ``revision`` through the HF cache, HF_TOKEN from the environment
inside huggingface_hub), a local folder holding ``pytorch_model.bin``, or that file itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mubench.checks import Check
from mubench.models.base import ModelLoadError
from mubench.models.hub import folder_or_hub_check, torch_dtype
from mubench.models.spec import ModelSpec

log = logging.getLogger(__name__)

CHECKPOINT = "pytorch_model.bin"
INSTALL = ("pip install conch-fork==0.1.0 (the authors' conch 0.1.0 repackaged on PyPI, CC-BY-NC-ND 4.0), or "
           "pip install git+https://github.com/mahmoodlab/CONCH.git")
CONTEXT_LENGTH = 128  # CONCH's text tower; the last position is filled with <pad> and replaced by <cls> inside the model
HOW_TO_PROVIDE = (
    "Request access to the gated repo MahmoodLab/conch on the Hugging Face hub, then download it on a machine "
    "with network access with HF_TOKEN set (e.g. `hf download MahmoodLab/conch --revision {revision}`) and "
    "copy/bind its $HF_HOME here, or set `model_id` to a local folder or file holding " + CHECKPOINT + "."
)


def conch_api(spec: ModelSpec):
    """The package's loader functions; a missing package becomes a message that says how to install it."""
    try:
        from conch.open_clip_custom import create_model_from_pretrained, get_tokenizer
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith("conch"):
            raise
        raise ModelLoadError(
            f"model {spec.name!r}: family 'conch' needs the `conch` package, which is not installed ({err}). "
            f"Install it: {INSTALL}"
        ) from err
    return create_model_from_pretrained, get_tokenizer


def conch_tokens(tokenizer, texts: Sequence[str]) -> torch.Tensor:
    """Token ids as CONCH was trained with them: special tokens added, truncated and padded to 127 positions, then
    one <pad> appended (the slot the model's <cls> token takes). The package's own ``tokenize`` does the same through
    ``batch_encode_plus``, which transformers 5 removed; calling the tokenizer keeps the ids and runs on both."""
    encoded = tokenizer(list(texts), max_length=CONTEXT_LENGTH - 1, add_special_tokens=True,
                        return_token_type_ids=False, truncation=True, padding="max_length", return_tensors="pt")
    return torch.nn.functional.pad(encoded["input_ids"], (0, 1), value=tokenizer.pad_token_id)


def checkpoint_path(spec: ModelSpec) -> str:
    """A local checkpoint file: given directly, inside a local folder, or from the HF cache/hub at the revision."""
    local = Path(spec.model_id).expanduser()
    if local.is_file():
        return str(local)
    if local.is_dir():
        if not (local / CHECKPOINT).is_file():
            raise ModelLoadError(f"model {spec.name!r}: {local} has no {CHECKPOINT}. "
                                 + HOW_TO_PROVIDE.format(revision=spec.revision or "main"))
        return str(local / CHECKPOINT)
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(spec.model_id, CHECKPOINT, revision=spec.revision)
    except Exception as err:  # offline, gated (no token / no access) and not-found are different types
        raise ModelLoadError(
            f"model {spec.name!r}: weights {spec.model_id}@{spec.revision or 'main'} are not available "
            f"({type(err).__name__}: {err}). " + HOW_TO_PROVIDE.format(revision=spec.revision or "main")
        ) from err


class ConchModel:
    """Contrastive image and text embeddings of CONCH (``proj_contrast``), both L2-normalised."""

    def __init__(self, spec: ModelSpec, device: str = "cpu"):
        if not spec.model_id or not spec.architecture:
            raise ValueError(f"model {spec.name!r}: family 'conch' needs `model_id` and `architecture`")
        if spec.context_length is not None or spec.preprocessing.interpolation is not None:
            raise ValueError(f"model {spec.name!r}: the conch package fixes the context length and the "
                             "interpolation; remove `context_length` / `preprocessing.interpolation`")
        create_model_from_pretrained, get_tokenizer = conch_api(spec)
        pre = spec.preprocessing
        model, preprocess = create_model_from_pretrained(
            spec.architecture, checkpoint_path(spec), device=device, force_image_size=pre.image_size,
            image_mean=pre.mean, image_std=pre.std,
        )
        self.model = model.to(torch_dtype(spec.dtype)).eval()
        self.preprocess = preprocess
        self.tokenizer = get_tokenizer()
        self.device = device
        self.dtype = torch_dtype(spec.dtype)
        self.logit_scale = float(model.logit_scale.exp().item())
        log.info("loaded CONCH %s from %s@%s on %s", spec.architecture, spec.model_id, spec.revision, device)

    @torch.inference_mode()
    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        batch = torch.stack([self.preprocess(im) for im in images]).to(self.device, self.dtype)
        features = self.model.encode_image(batch, proj_contrast=True, normalize=True)
        return features.float().cpu().numpy()

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        tokens = conch_tokens(self.tokenizer, texts).to(self.device)
        return self.model.encode_text(tokens, normalize=True).float().cpu().numpy()


def weights_check(item: str, spec: ModelSpec) -> Check:
    """Weights hook: ``model_id`` is the checkpoint file itself, a folder holding it, or a hub id at ``revision``."""
    return folder_or_hub_check(item, spec.model_id or "", spec.revision, file_ok=True)
