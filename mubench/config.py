"""Checks on a workflow config that its JSON schema cannot express, with messages that name the key."""

from __future__ import annotations

from typing import Any

from mubench.models.spec import ModelSpec


class ConfigError(ValueError):
    """The config is invalid; the message names the offending key."""


def check_config(config: dict[str, Any]) -> dict[str, ModelSpec]:
    """Return the configured models by name, refusing duplicates (they would share output paths)."""
    source = config["benchmark"]["source"]
    if config.get("probe") and source in ("microvqa", "microvqapp"):
        raise ConfigError(f"probe: the linear probe learns per-image class labels, which benchmark.source {source} "
                          "has not; leave the probe section out of this config")
    models: dict[str, ModelSpec] = {}
    for i, entry in enumerate(config["models"]):
        name = entry["name"]
        if name in models:
            raise ConfigError(f"models[{i}].name: {name!r} is used by more than one model; names must be unique")
        try:
            models[name] = ModelSpec.from_config(entry)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"models[{i}] ({name!r}): {err}") from err
    return models
