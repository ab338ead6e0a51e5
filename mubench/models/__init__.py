"""Model registry: one adapter per family, built from a config entry (DESIGN §3)."""

from __future__ import annotations

from mubench.models.base import ContrastiveModel, ModelLoadError
from mubench.models.spec import FAMILY_KINDS, ModelSpec


def load_contrastive(spec: ModelSpec, device: str = "cpu") -> ContrastiveModel:
    """Build the adapter for a contrastive family; heavy imports happen only for the family used."""
    if spec.family == "open_clip":
        from mubench.models.open_clip_family import OpenClipModel

        return OpenClipModel(spec, device=device)
    raise ValueError(f"model {spec.name!r}: family {spec.family!r} is not contrastive")


__all__ = ["ContrastiveModel", "FAMILY_KINDS", "ModelLoadError", "ModelSpec", "load_contrastive"]
