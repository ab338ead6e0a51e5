"""The config's ``merging`` section as ordinary models: trained demo models and one merged model per (pair, α).

Every model here gets a ModelSpec like a configured one, pointing at a folder the workflow writes, so the normal
predict rule evaluates it. Its ``revision`` is a content key of what produced the weights (training settings and
benchmark config, or α and both parents' fingerprints): a changed parent changes the fingerprint, and with it the
embedding-cache folder, so stale embeddings are never reused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from mubench.errors import ConfigError
from mubench.models.spec import ModelSpec

MERGEABLE_FAMILIES = ("open_clip", "hf_clip")  # the layouts mubench.analyses.merging.convert converts between


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """One ``merging.train.models`` entry with the section's seed; weight decay and split are fixed choices."""

    steps: int
    lr: float
    batch_size: int
    weight_decay: float = 0.05
    datasets: tuple[str, ...] | None = None  # None = every dataset of the benchmark
    # Sampling weight per dataset (default 1): a rare domain, as pathology is in web-scale pretraining data.
    dataset_weights: tuple[tuple[str, float], ...] = ()
    split: str = "train"
    seed: int


@dataclass(frozen=True)
class TrainedModel:
    spec: ModelSpec
    architecture: str
    settings: TrainSettings
    init: str | None  # name of the trained model it continues from


@dataclass(frozen=True)
class MergedModel:
    spec: ModelSpec
    pair: str
    alpha: float
    base: str
    tuned: str


@dataclass(frozen=True)
class MergePlan:
    trained: dict[str, TrainedModel] = field(default_factory=dict)
    merged: dict[str, MergedModel] = field(default_factory=dict)
    pairs: tuple[dict, ...] = ()
    report_alpha: float | None = None  # the α whose merged row carries its pair's name; None without merging
    subsets: tuple[str, ...] = ()  # where merged models are evaluated (merging.subsets, default: every subset)

    @property
    def alphas(self) -> tuple[float, ...]:
        """merging.alphas (every pair is merged at each), in config order; () without pairs."""
        return tuple(dict.fromkeys(merged.alpha for merged in self.merged.values()))

    @property
    def specs(self) -> dict[str, ModelSpec]:
        return {**{n: t.spec for n, t in self.trained.items()}, **{n: m.spec for n, m in self.merged.items()}}


def _key(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def merged_name(pair: str, alpha: float) -> str:
    return f"{pair}-a{alpha:g}"


def _with_weights_dir(tuned: ModelSpec, folder: str) -> dict:
    """Where the merged weights live, in the tuned model's family (its tokenizer and preprocessing stay)."""
    if tuned.family == "open_clip":
        return {"architecture": f"local-dir:{folder}", "pretrained": None}
    return {"model_id": folder}


def merging_subsets(section: dict, subsets: list[str]) -> tuple[str, ...]:
    """``merging.subsets``, each of which must be one of the config's ``subsets`` (absent: all of them)."""
    chosen = section.get("subsets", subsets)
    for i, subset in enumerate(chosen):
        if subset not in subsets:
            raise ConfigError(f"merging.subsets[{i}]: {subset!r} is not one of the evaluated subsets {list(subsets)}; "
                              f"add it to `subsets` or remove it here")
    return tuple(chosen)


def merge_plan(config: dict, models: dict[str, ModelSpec], results_dir: str) -> MergePlan:
    """Specs for the ``merging`` section; ``models`` are the configured ones (names must not collide)."""
    section = config.get("merging")
    if not section:
        return MergePlan()
    subsets = merging_subsets(section, config["subsets"])
    known = dict(models)
    trained = {}
    training = section.get("train") or {}
    for i, entry in enumerate(training.get("models", [])):
        name, init = entry["name"], entry.get("init")
        if name in known:
            raise ConfigError(f"merging.train.models[{i}].name: {name!r} is already a model name")
        if init is not None and init not in trained:
            raise ConfigError(f"merging.train.models[{i}].init: {init!r} is not a trained model listed before it")
        settings = TrainSettings(
            steps=entry["steps"], lr=entry["lr"], batch_size=entry["batch_size"],
            datasets=tuple(entry["datasets"]) if entry.get("datasets") else None,
            dataset_weights=tuple(sorted((entry.get("dataset_weights") or {}).items())),
            seed=training["seed"],
        )
        produced_by = {"architecture": training["architecture"], "settings": settings.__dict__,
                       "init": trained[init].spec.revision if init else None, "benchmark": config["benchmark"]}
        what = f"all {settings.split} images" if settings.datasets is None else \
            f"{settings.split} images of {', '.join(settings.datasets)}"
        spec = ModelSpec.from_config({
            "name": name, "family": "open_clip", "label": entry.get("label", name),
            "note": f"tiny CLIP trained here on {what}" + (f", starting from {init}" if init else ""),
            "architecture": f"local-dir:{results_dir}/merging/trained/{name}", "pretrained": None,
            "revision": f"trained:{_key(produced_by)}", "seed": settings.seed,
        })
        trained[name] = known[name] = TrainedModel(spec, training["architecture"], settings, init)
    report_alpha = float(section["report_alpha"])
    if section.get("pairs") and report_alpha not in map(float, section["alphas"]):
        # Table 19's paper join and Fig. 5's arrows read the merged model at this α: it must be one that is built.
        raise ConfigError(f"merging.report_alpha: {report_alpha:g} is not one of merging.alphas "
                          f"{list(section['alphas'])}; add it there")
    merged = {}
    for i, pair in enumerate(section.get("pairs", [])):
        for role in ("base", "tuned"):
            if pair[role] not in known:
                raise ConfigError(f"merging.pairs[{i}].{role}: {pair[role]!r} is not a configured or trained model")
        base, tuned = (known[pair[r]] for r in ("base", "tuned"))
        base, tuned = (m.spec if isinstance(m, TrainedModel) else m for m in (base, tuned))
        for role, spec in (("base", base), ("tuned", tuned)):
            if spec.family not in MERGEABLE_FAMILIES:
                raise ConfigError(f"merging.pairs[{i}].{role}: {spec.name!r} is a {spec.family!r} model; "
                                  f"merging supports {', '.join(MERGEABLE_FAMILIES)}")
        for alpha in section["alphas"]:
            name = merged_name(pair["name"], alpha)
            if name in known:
                raise ConfigError(f"merging.pairs[{i}]: merged model name {name!r} is already a model name")
            folder = f"{results_dir}/merging/models/{name}"
            spec = replace(
                tuned, name=name, label=f"{pair['name']} (α={alpha:g})",
                paper_name=pair["name"] if float(alpha) == report_alpha else name,
                note=f"{alpha:g}·{base.name} + {1 - alpha:g}·{tuned.name}, in {tuned.family} layout",
                revision=f"merged:{_key([alpha, base.fingerprint, tuned.fingerprint])}",
                **_with_weights_dir(tuned, folder),
            )
            merged[name] = known[name] = MergedModel(spec, pair["name"], float(alpha), base.name, tuned.name)
    return MergePlan(trained, merged, tuple(section.get("pairs", [])), report_alpha, subsets)
