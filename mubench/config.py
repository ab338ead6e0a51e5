"""Config validation with messages for people: one short line per problem naming the model and key, the full
JSON-schema detail in a log file; plus the checks a schema cannot express (duplicate model names).

Snakemake reads config files leniently (a repeated key silently keeps the last value; a YAML error names neither
file nor line), so the files are read once more here, strictly, before the workflow uses them.
"""

from __future__ import annotations

import copy
import difflib
import functools
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

from mubench.benchmark.sources import source_of
from mubench.errors import ConfigError
from mubench.models.spec import ModelSpec, parse_model

MAX_SHOWN = 60  # characters of a value quoted in a message


class _StrictLoader(yaml.SafeLoader):
    """YAML as Snakemake reads it, except that a key given twice in one mapping is an error."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"{key_node.start_mark.name}, line {line}: key {key!r} is given twice in one "
                                  f"mapping (first on line {seen[key]}); YAML would silently keep the last value")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_config_file(path: str | Path) -> Any:
    """A config file's contents, refusing YAML syntax errors and repeated keys with the file and line."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_StrictLoader)  # noqa: S506 — a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {err.problem or err.context}"
                          + (f" ({err.context})" if err.context and err.problem else "")) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None


def check_config_files(*paths: str | Path) -> None:
    """Read every existing config file strictly (Snakemake itself reports a missing one)."""
    for path in paths:
        if Path(path).is_file():
            read_config_file(path)


@contextmanager
def config_errors_first() -> Iterator[None]:
    """Turn a ConfigError raised while the workflow is read into the exit message: Snakemake would print its own
    pointer into rules/common.smk and a traceback before the problem; this way the problem is the first line."""
    try:
        yield
    except ConfigError as err:
        raise SystemExit(f"Config error: {err}") from None


def _defaults_filling(validator_class):
    """``validator_class`` that also fills each property's schema ``default`` into the config, as Snakemake's
    ``validate`` does (the workflow relies on those defaults being present)."""
    from jsonschema import validators

    check_properties = validator_class.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(key, copy.deepcopy(subschema["default"]))  # never share the schema's
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
    if kind == "not" and value in ("reference", "published"):
        return (f"{where}{key}: {value!r} is taken: paper_figures/{value}/ holds the published numbers shipped with "
                "the workflow, which a benchmark's outputs must not mix with; choose another name")
    detail = error.message if len(error.message) <= 2 * MAX_SHOWN else f"{_shown(value)} fails `{kind}: {expected}`"
    return f"{where}{key}: {detail}"


def read_schema(schema_path: str | Path) -> dict:
    """The JSON schema (YAML), parsed once per file version: every validation and every library default reads it."""
    path = Path(schema_path).resolve()
    return copy.deepcopy(_parsed_schema(path, path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _parsed_schema(path: Path, mtime_ns: int) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def section_with_defaults(schema_path: str | Path, section: str, values: dict) -> dict:
    """``values`` for the config section ``section`` (dotted: ``probe.features``) with the schema's defaults filled
    in, as validate_config fills them (nothing else is checked): the settings a library caller gets by default."""
    from jsonschema import Draft202012Validator

    subschema = read_schema(schema_path)
    for key in section.split("."):
        subschema = subschema["properties"][key]
    filled = copy.deepcopy(dict(values))
    for _ in _defaults_filling(Draft202012Validator)(subschema).iter_errors(filled):
        pass  # a missing required key is the caller's to give; only the filling matters here
    return filled


def validate_config(config: dict, schema_path: str | Path, detail_log: str | Path,
                    sources: Iterable[str | Path] = ()) -> None:
    """Check ``config`` (read from ``sources``) against the JSON schema, filling its defaults in place. On failure
    write every error in full to ``detail_log`` and raise ConfigError: one short line per problem, then a line
    saying how many there are and where the detail is."""
    from jsonschema import Draft202012Validator

    schema = read_schema(schema_path)
    validator = _defaults_filling(Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    detail_log = Path(detail_log)
    detail_log.parent.mkdir(parents=True, exist_ok=True)
    detail_log.write_text("\n\n".join(f"--- problem {i + 1} of {len(errors)}\n{e}" for i, e in enumerate(errors)))
    lines = list(dict.fromkeys(describe(e, config) for e in errors))
    files = f" in {', '.join(str(s) for s in sources)}" if sources else ""
    raise ConfigError("\n".join(lines) + f"\n({len(lines)} problem{'s' * (len(lines) > 1)}{files}; nothing was run; "
                      f"full schema detail in {detail_log})")


def check_config(config: dict[str, Any]) -> dict[str, ModelSpec]:
    """Return the configured models by name, refusing duplicates (they would share output paths)."""
    name = config["benchmark"]["source"]
    source = source_of(name)
    if config.get("probe") and not source.image_labels:
        raise ConfigError(f"probe: the linear probe learns per-image class labels, which benchmark.source {name} "
                          "has not; leave the probe section out of this config")
    if (config.get("detection") or {}).get("models") and not source.boxes:
        raise ConfigError(f"detection: Table 18 scores boxes against ground-truth boxes, which benchmark.source "
                          f"{name} has not; set `detection: null` in this config")
    if source.release_option:
        release_given(name, config["benchmark"].get(name) or {})
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


def release_given(source: str, options: dict) -> None:
    """A MicroVQA-style release must be named before anything is planned: a folder, or a hub id at a revision."""
    if options.get("path"):
        return
    if not options.get("revision"):
        raise ConfigError(f"benchmark.{source}: set `path` (a folder holding the release's parquet shards) or "
                          f"`revision` (the hub commit to read from the Hugging Face cache); see docs/microvqa.md")
    if not options.get("repo_id"):
        raise ConfigError(f"benchmark.{source}: `revision` needs `repo_id` (the release's Hugging Face dataset id), "
                          "or set `path` to a local copy instead; see docs/microvqa.md")


if __name__ == "__main__":  # `python -m mubench.config FILE…` (make check): Snakemake names no file or line for a
    import sys              # YAML error in a --configfile; this does, before it starts

    with config_errors_first():
        check_config_files(*sys.argv[1:])
