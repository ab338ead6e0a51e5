"""Provenance stamped on every prediction row: which model, data, prompt and code produced it."""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import mubench

# Bump when the text a model sees, or the way its answer is read, changes.
CAPTION_PROMPT_VERSION = "captions-v1"
CAPTION_PARSER_VERSION = "argmax-v1"


@cache
def mubench_version() -> str:
    """Package version plus the git commit when run from a checkout (``-dirty`` if it has local edits)."""
    root = Path(mubench.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return mubench.__version__
    return f"{mubench.__version__}+g{sha}"


@dataclass(frozen=True)
class Provenance:
    model_id: str
    model_revision: str
    model_fingerprint: str
    benchmark_source: str
    benchmark_revision: str
    prompt_version: str
    parser_version: str
    seed: int
    mubench_version: str

    def columns(self) -> dict[str, object]:
        return asdict(self)
