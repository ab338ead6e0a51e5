"""Preflight on the login node: is everything a run needs already here? One table, every missing item at once.

Nothing is loaded or downloaded: weights are looked up in local folders and the Hugging Face cache (as an offline
compute node would see them), the uBench shards are found and hashed (the hash record is the build's own, so the
build does not hash them again), the cognition folder is parsed, and container images are looked for when the
run uses Apptainer. A failed SLURM job per missing file costs a queue wait each; this costs seconds.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Iterable

from mubench.benchmark.sources import source_of
from mubench.checks import ERROR, MISSING, OK, Check
from mubench.models.hub import folder_or_hub_check
from mubench.models.spec import FAMILIES, ModelSpec
from mubench.registry import resolve

TABLE_WIDTH = 118  # characters: the table fits a terminal; long details and remedies wrap


def model_check(spec: ModelSpec) -> Check:
    """Whether the weights (or key) a model needs are available offline, without loading it: its family's hook."""
    item = f"model {spec.name} ({spec.family})"
    hook = FAMILIES[spec.family].weights
    return resolve(hook)(item, spec) if hook else Check(item, OK, "no weights")


def probe_check(features: dict) -> Check:
    item = "probe features"
    pretrained = features.get("pretrained")
    if pretrained is None:
        return Check(item, OK, "untrained ViT-S/14 (seeded): no weights needed")
    if features.get("backend") == "timm" and pretrained.startswith("hf-hub:"):
        return folder_or_hub_check(item, pretrained.removeprefix("hf-hub:"), features.get("revision"))
    if Path(pretrained).expanduser().is_file():
        return Check(item, OK, f"weights file {pretrained}")
    return folder_or_hub_check(item, pretrained, features.get("revision"))


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
               *, use_apptainer: bool, repo: Path, results_dir: Path) -> list[Check]:
    """Every item a run of this config needs, in the order a user fixes them: data, models, probe, images."""
    checks = []
    availability = source_of(benchmark["source"]).availability_checks()
    if availability is not None:
        checks += availability(benchmark["source"], benchmark.get(benchmark["source"]) or {}, results_dir)
    checks += [model_check(spec) for spec in models]
    if probe_features is not None:
        checks.append(probe_check(probe_features))
    if use_apptainer:
        checks += container_checks(images, repo)
    return checks


class PreflightFailed(RuntimeError):
    """Some items are not ready; the message names every one of them."""


def preflight(models, benchmark, probe_features, images, *, use_apptainer: bool, repo, results_dir, log,
              failed_log_shown: bool = False) -> None:
    """Write the table to ``log`` and show it once: on the terminal, unless the run fails and Snakemake prints the
    failed job's log itself (``failed_log_shown``, --show-failed-logs); fail naming every item that is not ready."""
    import sys

    checks = run_checks(models, dict(benchmark), dict(probe_features) if probe_features else None, images,
                        use_apptainer=use_apptainer, repo=Path(repo), results_dir=Path(results_dir))
    table = render(checks)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(table)
    failed = [c.item for c in checks if not c.passed]
    if not (failed and failed_log_shown):
        sys.stdout.write(table)
    if failed:
        raise PreflightFailed(f"{len(failed)} of {len(checks)} items not ready; the table (also in {log}) says what "
                              "to do for each")
