"""Where a model's files come from: a local folder, or the Hugging Face cache/hub at a pinned revision.

One resolution for every family, so every missing-weights error reads the same: which model, which repo and
revision, and how to provide the files on an offline machine. huggingface_hub honours HF_HOME, HF_HUB_OFFLINE and
HF_TOKEN itself; mubench never reads or logs the token.
"""

from __future__ import annotations

from pathlib import Path

from mubench.checks import MISSING, OK, Check
from mubench.hf_cache import cache_description, cached_snapshot
from mubench.models.base import ModelLoadError

# Other frameworks' weight files in transformers repos: never needed here, often gigabytes.
IGNORED_FILES = ["*.h5", "*.msgpack", "*.ot", "*.onnx", "flax_model*", "tf_model*", "rust_model*", "onnx/*"]
TORCH_DTYPES = ("float32", "float16", "bfloat16")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def how_to_provide(repo_id: str, revision: str | None) -> str:
    rev = f" --revision {revision}" if revision else ""
    return (
        f"On a machine with network access run `hf download {repo_id}{rev}` with the same $HF_HOME and bind or copy "
        "that cache here, or point the entry at a local folder (save_pretrained / open_clip layout). Gated repos "
        "also need HF_TOKEN in the environment of that download."
    )


def snapshot_dir(model_name: str, repo_id: str, revision: str | None) -> str:
    """The local snapshot of ``repo_id`` at ``revision`` (cache first; downloaded only when online)."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, revision=revision, ignore_patterns=IGNORED_FILES)
    except Exception as err:  # huggingface_hub raises several offline / not-found / gated types
        raise ModelLoadError(
            f"model {model_name!r}: files of {repo_id}@{revision or 'main'} are not available "
            f"({type(err).__name__}: {err}). {how_to_provide(repo_id, revision)}"
        ) from err


def model_dir(model_name: str, model_id: str | None, revision: str | None) -> str:
    """``model_id`` as a local folder, or the snapshot of that hub id at ``revision``."""
    if not model_id:
        raise ModelLoadError(f"model {model_name!r}: `model_id` (hub id or local folder) is required")
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        return str(folder)
    if model_id.startswith(("/", ".", "~")):
        raise ModelLoadError(f"model {model_name!r}: local folder {model_id} does not exist")
    return snapshot_dir(model_name, model_id, revision)


def torch_dtype(name: str):
    import torch

    if name not in TORCH_DTYPES:
        raise ValueError(f"dtype must be one of {TORCH_DTYPES}, got {name!r}")
    return getattr(torch, name)


def has_weights(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix in WEIGHT_SUFFIXES for p in folder.iterdir())


def folder_or_hub_check(item: str, location: str, revision: str | None, *, file_ok: bool = False) -> Check:
    """Weights as ``model_dir`` finds them, looked up offline: a local folder (or checkpoint file) with weights, or
    a cached hub snapshot at ``revision``."""
    path = Path(location).expanduser()
    if path.exists() or location.startswith(("/", ".", "~")):
        if file_ok and path.is_file():
            return Check(item, OK, f"checkpoint file {path}")
        if has_weights(path):
            return Check(item, OK, f"local folder {path}")
        return Check(item, MISSING, f"local folder {path} is absent or has no weights ({', '.join(WEIGHT_SUFFIXES)})",
                     "copy the model's files there (save_pretrained layout)")
    snapshot = cached_snapshot(location, revision)
    if snapshot is not None and has_weights(snapshot):
        return Check(item, OK, f"HF cache {snapshot}")
    what = (f"snapshot {snapshot} has no weights" if snapshot is not None else
            f"not in the HF cache {cache_description()}")
    return Check(item, MISSING, f"{location}@{revision or 'main'}: {what}", how_to_provide(location, revision))


def hub_weights(item: str, spec) -> Check:
    """Weights hook of the transformers families: ``model_id`` is a local folder or a hub id at ``revision``."""
    return folder_or_hub_check(item, spec.model_id or "", spec.revision)
