"""The Hugging Face hub as the environment sets it up now: where its cache is, and whether it may be reached.

Read from the environment at each call (huggingface_hub reads HF_HOME once, at its import), so every message can
name the folder that was actually looked in.
"""

from __future__ import annotations

import os
from pathlib import Path


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hub_cache() -> Path:
    """The hub cache folder: HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def cache_description() -> str:
    """``hub_cache()`` and what chose it, for messages: a job on another machine may see another HF_HOME."""
    if os.environ.get("HF_HUB_CACHE"):
        why = "HF_HUB_CACHE"
    elif os.environ.get("HF_HOME"):
        why = f"HF_HOME={os.environ['HF_HOME']}"
    else:
        why = "HF_HOME is unset, so the default"
    return f"{hub_cache()} ({why})"


def cached_snapshot(repo_id: str, revision: str | None, repo_type: str = "model") -> Path | None:
    """The cached snapshot folder of ``repo_id`` at ``revision`` (branch main when None), never downloading."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, repo_type=repo_type, cache_dir=hub_cache(),
                                      local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        return None
