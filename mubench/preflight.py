"""Preflight on the login node: is everything a run needs already here? One table, every missing item at once.

Nothing is loaded or downloaded: weights are looked up in local folders and the Hugging Face cache (as an offline
compute node would see them), the uBench shards are found and hashed (the hash record is the build's own, so the
build does not hash them again), the cognition folder is parsed, and container images are looked for when the
run uses Apptainer. A failed SLURM job per missing file costs a queue wait each; this costs seconds.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from mubench.hf_cache import cache_description, hub_cache
from mubench.models.hub import how_to_provide
from mubench.models.spec import ModelSpec

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
OK, MISSING, ERROR = "ok", "MISSING", "ERROR"
TABLE_WIDTH = 118  # characters: the table fits a terminal; long details and remedies wrap


@dataclass(frozen=True)
class Check:
    item: str
    status: str  # ok | MISSING | ERROR
    detail: str
    remedy: str = ""

    @property
    def passed(self) -> bool:
        return self.status == OK


def _has_weights(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix in WEIGHT_SUFFIXES for p in folder.iterdir())


def _cached_snapshot(repo_id: str, revision: str | None, repo_type: str = "model") -> Path | None:
    """The cached snapshot folder of ``repo_id`` at ``revision`` (branch main when None), never downloading."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, repo_type=repo_type, cache_dir=hub_cache(),
                                      local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        return None


def _hub_or_folder(item: str, location: str, revision: str | None, *, file_ok: bool = False) -> Check:
    """A transformers-style model: a local folder (or checkpoint file) with weights, or a cached hub snapshot."""
    path = Path(location).expanduser()
    if path.exists() or location.startswith(("/", ".", "~")):
        if file_ok and path.is_file():
            return Check(item, OK, f"checkpoint file {path}")
        if _has_weights(path):
            return Check(item, OK, f"local folder {path}")
        return Check(item, MISSING, f"local folder {path} is absent or has no weights ({', '.join(WEIGHT_SUFFIXES)})",
                     "copy the model's files there (save_pretrained layout)")
    snapshot = _cached_snapshot(location, revision)
    if snapshot is not None and _has_weights(snapshot):
        return Check(item, OK, f"HF cache {snapshot}")
    what = (f"snapshot {snapshot} has no weights" if snapshot is not None else
            f"not in the HF cache {cache_description()}")
    return Check(item, MISSING, f"{location}@{revision or 'main'}: {what}", how_to_provide(location, revision))


def _open_clip_check(item: str, spec: ModelSpec) -> Check:
    import open_clip
    from huggingface_hub import try_to_load_from_cache
    from open_clip.pretrained import HF_WEIGHTS_NAME, get_pretrained_cfg

    architecture = spec.architecture or ""
    if architecture.startswith("hf-hub:"):
        return _hub_or_folder(item, architecture.removeprefix("hf-hub:"), spec.revision)
    if architecture.startswith("local-dir:"):
        return _hub_or_folder(item, architecture.removeprefix("local-dir:"), None)
    from importlib.resources import files

    open_clip.add_model_config(Path(str(files("mubench.models").joinpath("open_clip_configs"))))
    if architecture not in open_clip.list_models():
        return Check(item, ERROR, f"open_clip knows no architecture {architecture!r}",
                     "use a name from open_clip.list_models(), hf-hub:org/repo or local-dir:/path")
    if spec.pretrained is None:
        return Check(item, OK, f"{architecture}, random initialisation (seed {spec.seed}): no weights needed")
    if Path(spec.pretrained).expanduser().is_file():
        return Check(item, OK, f"checkpoint file {spec.pretrained}")
    cfg = get_pretrained_cfg(architecture, spec.pretrained)
    if not cfg:
        return Check(item, ERROR, f"{architecture} has no pretrained tag or file {spec.pretrained!r}",
                     f"tags: {', '.join(open_clip.list_pretrained_tags_by_model(architecture))}")
    if cfg.get("hf_hub"):
        repo_id, filename = os.path.split(cfg["hf_hub"])  # "org/repo/" means the default weights file
        filename = filename or HF_WEIGHTS_NAME
        stem = filename.rsplit(".", 1)[0]
        for candidate in (f"{stem}.safetensors", "open_clip_model.safetensors", filename):
            found = try_to_load_from_cache(repo_id, candidate, revision=spec.revision)
            if isinstance(found, str):
                return Check(item, OK, f"HF cache {found}")
        return Check(item, MISSING, f"{architecture}/{spec.pretrained}: {repo_id}/{filename} not in the HF cache "
                                    f"{cache_description()}", how_to_provide(repo_id, spec.revision))
    url = cfg.get("url", "")
    target = Path(os.environ.get("TORCH_HOME", "~/.cache")).expanduser() / "clip" / os.path.basename(url)
    if target.is_file() or (Path("~/.cache/clip").expanduser() / os.path.basename(url)).is_file():
        return Check(item, OK, f"open_clip cache {target}")
    return Check(item, MISSING, f"{architecture}/{spec.pretrained}: {os.path.basename(url)} not downloaded",
                 f"on a machine with network, load the model once (downloads {url}), or set `pretrained` to the file")


def model_check(spec: ModelSpec) -> Check:
    """Whether the weights (or key) a model needs are available offline, without loading it."""
    item = f"model {spec.name} ({spec.family})"
    if spec.family == "random":
        return Check(item, OK, "no weights")
    if spec.family == "open_clip":
        return _open_clip_check(item, spec)
    if spec.family == "openai_api":
        if os.environ.get("OPENAI_API_KEY"):
            return Check(item, OK, f"OPENAI_API_KEY is set; endpoint {spec.base_url}")
        return Check(item, MISSING, "OPENAI_API_KEY is not set",
                     "export OPENAI_API_KEY in the environment that starts snakemake (never in a file)")
    check = _hub_or_folder(item, spec.model_id or "", spec.revision, file_ok=spec.family == "conch")
    if check.passed and spec.tokenizer_id:
        tokenizer = _hub_or_folder(item, spec.tokenizer_id, spec.tokenizer_revision)
        if not tokenizer.passed:
            return Check(item, MISSING, f"tokenizer {tokenizer.detail}", tokenizer.remedy)
    return check


def probe_check(features: dict) -> Check:
    item = "probe features"
    pretrained = features.get("pretrained")
    if pretrained is None:
        return Check(item, OK, "untrained ViT-S/14 (seeded): no weights needed")
    if features.get("backend") == "timm" and pretrained.startswith("hf-hub:"):
        return _hub_or_folder(item, pretrained.removeprefix("hf-hub:"), features.get("revision"))
    if Path(pretrained).expanduser().is_file():
        return Check(item, OK, f"weights file {pretrained}")
    return _hub_or_folder(item, pretrained, features.get("revision"))


def ubench_checks(options: dict, hash_record: Path) -> list[Check]:
    """Each shard found and of the pinned SHA-256; the cognition folder parsed when one is configured."""
    from mubench.benchmark.ubench import REPO_ID, REVISION, _expected_hashes
    from mubench.benchmark.ubench_acquire import SUBFOLDER, UBenchSourceError, verify_shards
    from mubench.benchmark.ubench_cognition import CognitionFormatError, read_cognition

    revision = options.get("revision", REVISION)
    repo_id = options.get("repo_id", REPO_ID)
    checks = []
    try:
        expected = _expected_hashes(revision, options.get("sha256"))
    except UBenchSourceError as err:
        return [Check("uBench shards", ERROR, str(err))]
    if options.get("path"):
        roots = [Path(options["path"]).expanduser()]
        where = f"benchmark.ubench.path {roots[0]}"
    else:
        snapshot = _cached_snapshot(repo_id, revision, repo_type="dataset")
        roots = [snapshot] if snapshot else []
        where = f"the HF cache {cache_description()} ({repo_id}@{revision})"
    for name, sha in sorted(expected.items()):
        item = f"uBench shard {name}"
        found = next((root / sub / name for root in roots for sub in ("", SUBFOLDER)
                      if (root / sub / name).is_file()), None)
        if found is None:
            checks.append(Check(item, MISSING, f"not in {where}",
                                f"copy {SUBFOLDER}/ of {repo_id}@{revision} there (docs/ubench.md)"))
            continue
        try:
            verify_shards({name: found}, {name: sha}, hash_record)
            checks.append(Check(item, OK, f"{found}, SHA-256 verified"))
        except UBenchSourceError as err:
            checks.append(Check(item, ERROR, str(err), "delete the file and fetch it again"))
    if options.get("cognition_path"):
        try:
            n = len(read_cognition(options["cognition_path"]))
            checks.append(Check("cognition folder", OK, f"{options['cognition_path']}: {n} questions"))
        except CognitionFormatError as err:
            checks.append(Check("cognition folder", ERROR, str(err), "fix the folder (format: docs/ubench.md)"))
    return checks


def microvqa_checks(source: str, options: dict, hash_record: Path) -> list[Check]:
    """The MicroVQA / MicroVQA++ shards found (never downloaded), complete, and of the configured SHA-256."""
    from mubench.benchmark.microvqa import LAYOUTS
    from mubench.benchmark.microvqa_release import ReleaseError, check_hashes, locate_release

    item = f"{source} shards"
    try:
        split, shards, where = locate_release(source, options.get("path"), options.get("repo_id")
                                              or LAYOUTS[source].repo_id, options.get("revision"),
                                              options.get("split"), download=False)
    except ReleaseError as err:
        return [Check(item, MISSING, str(err), "see docs/microvqa.md")]
    try:
        check_hashes(source, shards, options.get("sha256"), hash_record.parent / f"{source}_shard_sha256.json")
    except ReleaseError as err:
        return [Check(item, ERROR, str(err), "delete the shard and fetch it again")]
    pinned = "SHA-256 verified" if options.get("sha256") else f"SHA-256 not pinned (benchmark.{source}.sha256)"
    return [Check(item, OK, f"{len(shards)} {split} shards at {where}; {pinned}")]


def container_checks(images: Iterable[str], repo: Path) -> list[Check]:
    return [
        Check(f"image {name}", OK, str(repo / f"containers/{name}.sif"))
        if (repo / f"containers/{name}.sif").is_file() else
        Check(f"image {name}", MISSING, f"containers/{name}.sif not built",
              f"`make containers` (or containers/build.sh {name}) on a machine with Apptainer, then copy it here")
        for name in sorted(set(images))
    ]


def render(checks: list[Check], width: int = TABLE_WIDTH) -> str:
    """One entry per item — its status, the item and what was found, then → what to do — wrapped so that a line
    stays within ``width`` characters (a path longer than that is never cut), and a verdict naming the failures."""
    status_width = max(len(status) for status in (OK, MISSING, ERROR))
    indent = " " * (status_width + 2)

    def wrapped(text: str, first: str, rest: str) -> list[str]:
        return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest, break_long_words=False,
                             break_on_hyphens=False)

    lines = [f"{'status'.ljust(status_width)}  item: what was found / → what to do"]
    for c in checks:
        head = f"{c.status.ljust(status_width)}  {c.item}:"
        if len(head) + 1 + len(c.detail.split(" ", 1)[0]) > width:  # a long path starts on a line of its own
            lines += [head, *wrapped(c.detail, indent, indent)]
        else:
            lines += wrapped(c.detail, f"{head} ", indent)
        if c.remedy:
            lines += wrapped(c.remedy, f"{indent}→ ", f"{indent}  ")
    failed = [c for c in checks if not c.passed]
    verdict = (f"preflight: all {len(checks)} items ready" if not failed else
               f"preflight: {len(failed)} of {len(checks)} items not ready: " + "; ".join(c.item for c in failed))
    return "\n".join(lines + ["", *wrapped(verdict, "", "  ")]) + "\n"


def run_checks(models: Iterable[ModelSpec], benchmark: dict, probe_features: dict | None, images: Iterable[str],
               *, use_apptainer: bool, repo: Path, hash_record: Path) -> list[Check]:
    """Every item a run of this config needs, in the order a user fixes them: data, models, probe, images."""
    checks = []
    if benchmark["source"] == "ubench":
        checks += ubench_checks(benchmark.get("ubench") or {}, hash_record)
    if benchmark["source"] in ("microvqa", "microvqapp"):
        checks += microvqa_checks(benchmark["source"], benchmark.get(benchmark["source"]) or {}, hash_record)
    checks += [model_check(spec) for spec in models]
    if probe_features is not None:
        checks.append(probe_check(probe_features))
    if use_apptainer:
        checks += container_checks(images, repo)
    return checks


class PreflightFailed(RuntimeError):
    """Some items are not ready; the message names every one of them."""


def preflight(models, benchmark, probe_features, images, *, use_apptainer: bool, repo, hash_record, log,
              failed_log_shown: bool = False) -> None:
    """Write the table to ``log`` and show it once: on the terminal, unless the run fails and Snakemake prints the
    failed job's log itself (``failed_log_shown``, --show-failed-logs); fail naming every item that is not ready."""
    import sys

    checks = run_checks(models, dict(benchmark), dict(probe_features) if probe_features else None, images,
                        use_apptainer=use_apptainer, repo=Path(repo), hash_record=Path(hash_record))
    table = render(checks)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(table)
    failed = [c.item for c in checks if not c.passed]
    if not (failed and failed_log_shown):
        sys.stdout.write(table)
    if failed:
        raise PreflightFailed(f"{len(failed)} of {len(checks)} items not ready; the table (also in {log}) says what "
                              "to do for each")
