"""A model entry from config, with the defaults filled in once so every stage sees the same values."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from mubench.errors import ConfigError
from mubench.models.groups import default_group


@dataclass(frozen=True)
class Family:
    """How a family answers (kind), where its adapter lives, and which Apptainer image runs it."""

    kind: str  # "random" | "prior" | "contrastive" | "generative" | "detection" (boxes only, no multiple choice)
    adapter: str  # "module:Class", imported only when a model of the family is loaded
    container: str  # containers/<container>.def
    uses_torch: bool = True  # False: the job never imports torch (its image can leave it out)
    version: int = 1  # bump when the adapter's outputs change, so cached embeddings/answers are not reused
    weights: str = ""  # "module:function" (item, spec) → checks.Check: its weights found offline; "" = none needed
    text_only: bool = False  # can be asked with no image at all (the blind ablation no_image)


# What of a family is part of a model's fingerprint: the code that computes its outputs (not how it is checked).
CODE_IDENTITY = ("kind", "adapter", "container", "uses_torch", "version")
HUB_WEIGHTS = "mubench.models.hub:hub_weights"


# One line per family. The adapter class takes (spec, device) and implements the kind's protocol (models/base.py).
FAMILIES = {
    "random": Family("random", "", "base", uses_torch=False),
    "prior": Family("prior", "", "base", uses_torch=False),
    "open_clip": Family("contrastive", "mubench.models.open_clip_family:OpenClipModel", "openclip",
                        weights="mubench.models.open_clip_family:weights_check"),
    "hf_clip": Family("contrastive", "mubench.models.hf_contrastive:HFClipModel", "openclip", weights=HUB_WEIGHTS),
    "hf_align": Family("contrastive", "mubench.models.hf_contrastive:HFAlignModel", "openclip", weights=HUB_WEIGHTS),
    "hf_blip": Family("contrastive", "mubench.models.hf_contrastive:HFBlipITCModel", "openclip", weights=HUB_WEIGHTS),
    "conch": Family("contrastive", "mubench.models.conch_family:ConchModel", "openclip",
                    weights="mubench.models.conch_family:weights_check"),
    "paligemma": Family("generative", "mubench.models.hf_generative:PaliGemmaModel", "hf-vlm", weights=HUB_WEIGHTS),
    "hf_vlm": Family("generative", "mubench.models.hf_generative:HfVlmModel", "hf-vlm", weights=HUB_WEIGHTS,
                     text_only=True),
    "hf_remote_code": Family("generative", "mubench.models.hf_remote_code:RemoteCodeModel", "legacy-remote-code",
                             weights="mubench.models.hf_remote_code:weights_check"),
    "openai_api": Family("generative", "mubench.models.openai_api:OpenAIChatModel", "api", uses_torch=False,
                         weights="mubench.models.openai_api:weights_check", text_only=True),
    "classical_detector": Family("detection", "mubench.models.classical_detector:ThresholdDetector", "base",
                                 uses_torch=False),
}

# Kinds that answer without weights and without looking at any image: the Random and Prior rows.
BASELINE_KINDS = frozenset({"random", "prior"})
# Families asked with every image of a multi-image question (MicroVQA); the others take one image and skip such
# questions (answering/questions.py: answerable). The baselines look at no image.
SEVERAL_IMAGES = frozenset({"random", "prior", "hf_vlm", "openai_api"})

# Per-family defaults that differ from ModelSpec's: local VLMs run in bf16 (the paper's PaliGemma setting), the
# API gets the paper's max_tokens 2048.
FAMILY_DEFAULTS = {
    "paligemma": {"dtype": "bfloat16"},
    "hf_vlm": {"dtype": "bfloat16"},
    "hf_remote_code": {"dtype": "bfloat16"},
    "openai_api": {"max_new_tokens": 2048},
}
# Settings that change how a job runs or reads answers, not what the model answers (kept out of the fingerprint,
# so changing them reuses cached responses).
OPERATIONAL_KEYS = {"blind", "matching", "concurrency", "request_timeout_s", "max_retries", "retry_base_s",
                    "prefix_reuse", "retry_budget_s", "max_retry_wait_s", "max_consecutive_failures", "max_reply_bytes",
                    "max_response_chars"}


@dataclass(frozen=True)
class Preprocessing:
    image_size: int | None = None
    interpolation: str | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Thresholding:
    """classical_detector: smooth, threshold, fill holes, optionally split touching objects, keep large components."""

    method: str = "otsu"  # a scikit-image global threshold: otsu | li | yen | triangle | mean | isodata
    sigma: float = 1.0  # Gaussian smoothing before thresholding (pixels); 0 = none
    invert: bool = False  # True: objects darker than the background (brightfield, H&E nuclei)
    min_area: int = 10  # smaller components are noise (pixels)
    split_min_distance: int | None = None  # split touching objects by a distance-transform watershed; None = off


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    label: str
    paper_name: str
    group: str = ""  # family group in figures (mubench/models/groups.py); display only, not fingerprinted
    note: str = ""
    container: str = ""
    batch_size: int | None = None
    seed: int = 0
    model_id: str | None = None  # transformers/CONCH families: hub id (org/name) or local folder
    architecture: str | None = None
    pretrained: str | None = None
    revision: str | None = None
    context_length: int | None = None
    dtype: str = "float32"
    # generative families (DESIGN §3–4)
    trust_remote_code: bool = False
    max_new_tokens: int = 100  # openai_api: the request's max_tokens
    matching: str = "code"  # code | paper_text | strict: which rule sets `correct` (all three are stored)
    max_response_chars: int = 65536  # a longer response is cut to this before it is stored (counted in the log)
    scoring: str = "generate"  # generate | letter_logits (local models: argmax over the option letters)
    prefix_reuse: bool = True  # local VLMs: prefill each image's shared prefix once for all its questions
    tokenizer_id: str | None = None  # CogVLM: the tokenizer's hub id or folder (Vicuna)
    tokenizer_revision: str | None = None
    base_url: str = "https://api.openai.com/v1"  # openai_api from here on
    api_model: str | None = None
    temperature: float = 1.0
    concurrency: int = 4
    request_timeout_s: float = 120.0  # wall clock of one request: connection, headers and body
    max_retries: int = 6
    retry_base_s: float = 1.0
    max_retry_wait_s: float = 60.0  # longest wait before a retry; a longer Retry-After fails the question
    retry_budget_s: float = 600.0  # one question's attempts and waits together
    max_consecutive_failures: int = 3  # questions in a row without an answer before the job stops
    max_reply_bytes: int = 16 * 1024 * 1024
    blind: tuple[str, ...] = ()  # blind ablations also run (answering/blind.py); config `blind: true` = neutral_image
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    thresholding: Thresholding = field(default_factory=Thresholding)

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
        values.setdefault("group", default_group(values["paper_name"], FAMILIES[entry["family"]].kind))
        for key, value in FAMILY_DEFAULTS.get(entry["family"], {}).items():
            values.setdefault(key, value)
        pre = values.pop("preprocessing", None) or {}
        for key in ("mean", "std"):
            if key in pre:
                pre[key] = tuple(pre[key])
        thresholding = Thresholding(**(values.pop("thresholding", None) or {}))
        values["blind"] = blind_ablations(values.get("blind"), entry["name"], FAMILIES[entry["family"]])
        return cls(**values, preprocessing=Preprocessing(**pre), thresholding=thresholding)

    @property
    def kind(self) -> str:
        """``contrastive`` models score caption options; ``random`` draws a seeded uniform choice; ``detection``
        models only return boxes (appendix Table 18) and answer no multiple-choice question."""
        return FAMILIES[self.family].kind

    @property
    def is_baseline(self) -> bool:
        """Random and Prior: no weights, no image read; their answers are blind by construction."""
        return self.kind in BASELINE_KINDS

    @property
    def uses_accelerator(self) -> bool:
        """False for families that never import torch (Random, API models, the classical detector): a GPU would sit
        idle, so their jobs run under the CPU-only rule names (predict_cpu, score_cpu, detect_cpu)."""
        return FAMILIES[self.family].uses_torch

    @property
    def takes_several_images(self) -> bool:
        return self.family in SEVERAL_IMAGES

    @property
    def weights_revision(self) -> str:
        """What pins the weights: a hub revision, a pretrained tag or file, or the random-init seed."""
        if self.is_baseline:
            return f"seed={self.seed}"
        if self.kind == "detection":
            return "no weights"
        if self.model_id or (self.architecture or "").startswith(("hf-hub:", "local-dir:")):
            return self.revision or "unpinned"  # weights from a hub repo or folder, never a random init
        return self.revision or self.pretrained or f"random-init seed={self.seed}"

    @property
    def source_id(self) -> str:
        """Where the weights come from, for provenance: the hub id or folder, else the architecture or family."""
        return self.model_id or self.architecture or self.family

    @property
    def fingerprint(self) -> str:
        """Content key of everything that changes the model's outputs (not its display name or batch size)."""
        keyed = {k: v for k, v in asdict(self).items() if k not in {"name", "label", "paper_name", "group", "note",
                                                                      "container", "batch_size"}
                 and k not in OPERATIONAL_KEYS}
        if self.kind != "detection":  # detector settings change nothing else (and older caches stay valid)
            del keyed["thresholding"]
        family = FAMILIES[self.family]
        keyed["adapter"] = {name: getattr(family, name) for name in CODE_IDENTITY}  # adapter class and its version
        return hashlib.sha1(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]


# The blind ablations (answering/blind.py says what each does); `blind: true` runs the first.
BLIND_ABLATIONS = ("neutral_image", "no_image")


def blind_ablations(value, name: str, family: Family) -> tuple[str, ...]:
    """Config ``blind`` (true, false, or a list of ablations) as the ablations to run, checked against the family."""
    if value is None or value is False:
        return ()
    ablations = (BLIND_ABLATIONS[0],) if value is True else tuple(value)
    unknown = [a for a in ablations if a not in BLIND_ABLATIONS]
    if unknown or len(set(ablations)) != len(ablations):
        raise ValueError(f"blind: {list(ablations)} — each ablation once, from {', '.join(BLIND_ABLATIONS)}")
    if "no_image" in ablations and not family.text_only:
        able = ", ".join(name for name, f in FAMILIES.items() if f.text_only)
        raise ValueError(f"blind: no_image needs a family that can be asked without an image ({able}); use "
                         "neutral_image")
    return ablations


def parse_model(entry: dict[str, Any], where: str) -> ModelSpec:
    """One model entry as a ModelSpec; ``where`` (e.g. ``models[2]``) names it in the error."""
    try:
        return ModelSpec.from_config(entry)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where} ({entry.get('name')!r}): {err}") from err
