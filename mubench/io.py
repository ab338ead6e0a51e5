"""Small I/O helpers shared by every stage: atomic writes so an interrupted job never leaves half a file."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``; a crash leaves either the old file or none."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def set_aside(path: str | os.PathLike, reason: BaseException) -> Path:
    """Rename an unreadable cache file to ``<name>.unreadable`` (kept for inspection, no longer read), so its
    entries are recomputed; the caller logs and counts it."""
    path = Path(path)
    aside = path.with_name(path.name + ".unreadable")
    try:
        os.replace(path, aside)
    except OSError as err:
        raise OSError(f"cache file {path} is unreadable ({reason}) and cannot be moved aside ({err}); delete it "
                      "to recompute its entries") from err
    return aside


def write_json(path: str | os.PathLike, obj: Any) -> None:
    def _write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, default=str)
            fh.write("\n")

    atomic_write(path, _write)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def text_key(text: str) -> str:
    """Stable content key for a text (cache key for text embeddings)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()
