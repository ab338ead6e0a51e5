"""Model registry: one adapter per family, built from a config entry (DESIGN §3)."""

from __future__ import annotations

from importlib import import_module

from mubench.models.base import ContrastiveModel, ModelLoadError
from mubench.models.spec import FAMILIES, ModelSpec


def load_model(spec: ModelSpec, device: str = "cpu"):
    """Build the family's adapter; heavy imports (torch, transformers…) happen only for the family used."""
    family = FAMILIES[spec.family]
    if not family.adapter:
        raise ValueError(f"model {spec.name!r}: family {spec.family!r} has no model to load")
    module, cls = family.adapter.split(":")
    return getattr(import_module(module), cls)(spec, device=device)


__all__ = ["ContrastiveModel", "FAMILIES", "ModelLoadError", "ModelSpec", "load_model"]
