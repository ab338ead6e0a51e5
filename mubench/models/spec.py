"""A model entry from config, with the defaults filled in once so every stage sees the same values."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any



@dataclass(frozen=True)
class Family:
    """How a family answers (kind), where its adapter lives, and which Apptainer image runs it."""

    kind: str  # "random" | "contrastive" | "generative"
    adapter: str  # "module:Class", imported only when a model of the family is loaded
    container: str  # containers/<container>.def


# One line per family. The adapter class takes (spec, device) and implements the kind's protocol (models/base.py).
FAMILIES = {
    "random": Family("random", "", "base"),
    "open_clip": Family("contrastive", "mubench.models.open_clip_family:OpenClipModel", "openclip"),
}


@dataclass(frozen=True)
class Preprocessing:
    image_size: int | None = None
    interpolation: str | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    label: str
    paper_name: str
    note: str = ""
    container: str = ""
    batch_size: int | None = None
    seed: int = 0
    architecture: str | None = None
    pretrained: str | None = None
    revision: str | None = None
    context_length: int | None = None
    dtype: str = "float32"
    preprocessing: Preprocessing = field(default_factory=Preprocessing)

    @classmethod
    def from_config(cls, entry: dict[str, Any]) -> "ModelSpec":
        if entry.get("family") not in FAMILIES:
            raise ValueError(
                f"model {entry.get('name')!r}: unknown family {entry.get('family')!r}; "
                f"known: {', '.join(sorted(FAMILIES))}"
            )
        values = dict(entry)
        values.setdefault("label", entry["name"])
        values.setdefault("paper_name", entry["name"])
        values.setdefault("container", FAMILIES[entry["family"]].container)
        pre = values.pop("preprocessing", None) or {}
        for key in ("mean", "std"):
            if key in pre:
                pre[key] = tuple(pre[key])
        return cls(**values, preprocessing=Preprocessing(**pre))

    @property
    def kind(self) -> str:
        """``contrastive`` models score caption options; ``random`` draws a seeded uniform choice."""
        return FAMILIES[self.family].kind

    @property
    def weights_revision(self) -> str:
        """What pins the weights: a hub revision, a pretrained tag or file, or the random-init seed."""
        if self.kind == "random":
            return f"seed={self.seed}"
        return self.revision or self.pretrained or f"random-init seed={self.seed}"

    @property
    def fingerprint(self) -> str:
        """Content key of everything that changes the model's outputs (not its display name or batch size)."""
        keyed = {k: v for k, v in asdict(self).items() if k not in {"name", "label", "paper_name", "note",
                                                                      "container", "batch_size"}}
        return hashlib.sha1(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]
