"""Config validation with messages for people: one short line per problem naming the model and key, the full
JSON-schema detail in a log file; plus the checks a schema cannot express (duplicate model names)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Iterable

import yaml

from mubench.models.spec import ModelSpec

MAX_SHOWN = 60  # characters of a value quoted in a message


class ConfigError(ValueError):
    """The config is invalid; the message names the offending key."""


def _defaults_filling(validator_class):
    """``validator_class`` that also fills each property's schema ``default`` into the config, as Snakemake's
    ``validate`` does (the workflow relies on those defaults being present)."""
    from jsonschema import validators

    check_properties = validator_class.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(key, subschema["default"])
        yield from check_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": properties_with_defaults})


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 1] + "…"


def _json_type(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
                       (dict, "object"), (type(None), "null")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _did_you_mean(word: Any, candidates: Iterable[Any]) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" — did you mean {close[0]!r}?" if close else ""


def _where(config: Any, path: Iterable[Any]) -> str:
    """``models[1] "OpenCLIP"`` style location: list items that have a name are named."""
    parts, node = [], config
    for step in path:
        node = node[step] if isinstance(node, (dict, list)) else None
        if isinstance(step, int):
            name = node.get("name") if isinstance(node, dict) else None
            parts[-1] += f"[{step}]" + (f" {str(name)!r}" if isinstance(name, (str, int)) else "")
        else:
            parts.append(str(step))
    return ".".join(parts) or "top level"


def describe(error, config: dict) -> str:
    """One line for one jsonschema error: where, which key, what was expected, the nearest valid spelling."""
    path = list(error.absolute_path)
    kind, expected, value = error.validator, error.validator_value, error.instance
    if kind == "additionalProperties" and isinstance(value, dict):
        known = list(error.schema.get("properties", {}))
        unknown = [k for k in value if k not in known]
        return "; ".join(f"{_where(config, path)}: unknown key {key!r}{_did_you_mean(key, known)}" for key in unknown)
    if kind == "required":
        missing = [k for k in expected if not (isinstance(value, dict) and k in value)]
        family = value.get("family") if isinstance(value, dict) else None
        why = f" (family {family!r} needs it)" if family and "allOf" in error.schema_path else ""
        return f"{_where(config, path)}: missing required key {', '.join(map(repr, missing))}{why}"
    if path and isinstance(path[-1], str):
        where, key = _where(config, path[:-1]), f", key {path[-1]!r}"
    else:
        where, key = _where(config, path), ""
    if kind == "enum":
        return (f"{where}{key}: {_shown(value)} is not one of {', '.join(map(str, expected))}"
                f"{_did_you_mean(value, expected)}")
    if kind == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{where}{key}: expected {wanted}, got {_json_type(value)} {_shown(value)}"
    if kind == "pattern":
        return f"{where}{key}: {_shown(value)} must match {expected} (letters, digits and _ . - + only)"
    if kind == "not" and isinstance(value, str) and set(value) == {"."}:
        return (f"{where}{key}: {value!r} is not a name but a path ('.' is a folder itself, '..' its parent), so "
                "outputs named after it would land outside their folder; use a letter or digit in it")
    detail = error.message if len(error.message) <= 2 * MAX_SHOWN else f"{_shown(value)} fails `{kind}: {expected}`"
    return f"{where}{key}: {detail}"


def validate_config(config: dict, schema_path: str | Path, detail_log: str | Path) -> None:
    """Check ``config`` against the JSON schema, filling its defaults in place. On failure write every error in
    full to ``detail_log`` and raise ConfigError with one short line per problem."""
    from jsonschema import Draft202012Validator

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = _defaults_filling(Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    detail_log = Path(detail_log)
    detail_log.parent.mkdir(parents=True, exist_ok=True)
    detail_log.write_text("\n\n".join(f"--- problem {i + 1} of {len(errors)}\n{e}" for i, e in enumerate(errors)))
    lines = list(dict.fromkeys(describe(e, config) for e in errors))
    raise ConfigError(f"invalid config: {len(lines)} problem{'s' * (len(lines) > 1)} "
                      f"(full schema detail in {detail_log}):\n" + "\n".join(f"  - {line}" for line in lines))


def check_config(config: dict[str, Any]) -> dict[str, ModelSpec]:
    """Return the configured models by name, refusing duplicates (they would share output paths)."""
    source = config["benchmark"]["source"]
    if config.get("probe") and source in ("microvqa", "microvqapp"):
        raise ConfigError(f"probe: the linear probe learns per-image class labels, which benchmark.source {source} "
                          "has not; leave the probe section out of this config")
    if (config.get("detection") or {}).get("models") and source in ("microvqa", "microvqapp"):
        raise ConfigError(f"detection: Table 18 scores boxes against ground-truth boxes, which benchmark.source "
                          f"{source} has not; set `detection: null` in this config")
    models: dict[str, ModelSpec] = {}
    for i, entry in enumerate(config["models"]):
        name = entry["name"]
        if name in models:
            raise ConfigError(f"models[{i}].name: {name!r} is used by more than one model; names must be unique")
        spec = parse_model(entry, f"models[{i}]")
        if spec.kind == "detection":
            raise ConfigError(f"models[{i}] ({name!r}): family {spec.family} only localizes objects and answers no "
                              "question; list it under detection.models instead")
        models[name] = spec
    return models


def parse_model(entry: dict[str, Any], where: str) -> ModelSpec:
    """One model entry as a ModelSpec; ``where`` (e.g. ``models[2]``) names it in the error."""
    try:
        return ModelSpec.from_config(entry)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where} ({entry.get('name')!r}): {err}") from err
