"""Model registry: one adapter per family, built from a config entry (DESIGN §3)."""

from __future__ import annotations

import glob

from mubench.models.base import ContrastiveModel, ModelLoadError
from mubench.models.spec import FAMILIES, ModelSpec
from mubench.registry import resolve


def load_model(spec: ModelSpec, device: str = "cpu"):
    """Build the family's adapter; heavy imports (torch, transformers…) happen only for the family used."""
    family = FAMILIES[spec.family]
    if not family.adapter:
        raise ValueError(f"model {spec.name!r}: family {spec.family!r} has no model to load")
    return resolve(family.adapter)(spec, device=device)


# Where a host shows its GPUs without importing torch: the NVIDIA driver's GPU folders and devices, AMD's ROCm device.
ACCELERATOR_MARKERS = ("/proc/driver/nvidia/gpus/*", "/dev/nvidia[0-9]*", "/dev/kfd")


def gpu_request(device: str, markers: tuple[str, ...] = ACCELERATOR_MARKERS) -> int:
    """The `gpu` resource a model job asks for (profiles/default provides one: one such job at a time on a
    workstation's GPU): 1 unless the job cannot use one (``cpu``, or ``auto`` on a host without any), so a CPU-only
    host runs its model jobs side by side like any other job. Decided on the host that schedules the jobs."""
    if device == "cpu":
        return 0
    if device == "auto":
        return int(any(glob.glob(marker) for marker in markers))
    return 1


def resolve_device(device: str) -> str:
    """``auto`` → cuda when torch sees one, else cpu; any other value as given."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_for(spec: ModelSpec, device: str):
    """The family's adapter on the resolved device; None for the baselines (Random, Prior), which have no model."""
    if spec.is_baseline:
        return None
    return load_model(spec, device=resolve_device(device) if FAMILIES[spec.family].uses_torch else "cpu")


def model_info(spec: ModelSpec, model) -> dict:
    """What Table 21 reports: family, checkpoint, revision and the parameter count of the loaded weights."""
    module = getattr(model, "model", None)
    parameters = getattr(module, "parameters", None)
    return {
        "name": spec.name,
        "label": spec.label,
        "family": spec.family,
        "kind": spec.kind,
        "source_id": spec.source_id,
        "revision": spec.weights_revision,
        "fingerprint": spec.fingerprint,
        "model_class": type(module).__name__ if module is not None else None,
        "n_parameters": int(sum(p.numel() for p in parameters())) if callable(parameters) else None,
    }


__all__ = ["ContrastiveModel", "FAMILIES", "ModelLoadError", "ModelSpec", "load_for", "load_model", "model_info",
           "resolve_device"]
