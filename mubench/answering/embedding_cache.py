"""Per-sample embedding cache: finished batches survive an interrupted job and are never recomputed.

One ``.npz`` per finished batch, written atomically and keyed by content (image md5, text hash), so a rerun —
or another subset's job of the same model — loads what exists and encodes only what is missing. A chunk that
cannot be read (truncated, corrupted on disk) is moved aside as ``<name>.unreadable``, logged and counted in
``set_aside``; its entries are simply missing, so they are encoded again.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from tqdm import tqdm

from mubench.answering.prefetch import prefetched
from mubench.io import atomic_write, set_aside

log = logging.getLogger(__name__)

# What numpy raises for a damaged .npz: a truncated zip, a missing member, a short or garbled array.
UNREADABLE_CHUNK = (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError)


def _read_chunk(chunk: Path) -> tuple[list[str], np.ndarray]:
    with np.load(chunk) as data:
        keys, vectors = data["keys"].tolist(), data["vectors"]
    if len(keys) != len(vectors):
        raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
    return keys, vectors


class EmbeddingCache:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._vectors: dict[str, np.ndarray] = {}
        self.set_aside: list[Path] = []
        for chunk in sorted(self.folder.glob("*.npz")):
            try:
                keys, vectors = _read_chunk(chunk)
            except UNREADABLE_CHUNK as err:
                aside = set_aside(chunk, err)
                self.set_aside.append(aside)
                log.warning("embedding cache chunk %s is unreadable (%s: %s): moved to %s; its entries are "
                            "recomputed", chunk, type(err).__name__, err, aside.name)
                continue
            self._vectors.update(zip(keys, vectors))
        if self.set_aside:
            log.warning("%s: %d unreadable chunk(s) set aside", self.folder, len(self.set_aside))

    def __len__(self) -> int:
        return len(self._vectors)

    def missing(self, keys: Iterable[str]) -> list[str]:
        """Keys without a cached vector, unique, in first-seen order."""
        return [k for k in dict.fromkeys(keys) if k not in self._vectors]

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
        name = hashlib.sha1("\x00".join(keys).encode()).hexdigest()[:20] + ".npz"

        def _write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=np.asarray(keys), vectors=vectors)

        atomic_write(self.folder / name, _write)
        self._vectors.update(zip(keys, vectors))

    def matrix(self, keys: Sequence[str]) -> np.ndarray:
        return np.stack([self._vectors[k] for k in keys])


def encode_cached(
    keys: Sequence[str],
    load: Callable[[str], object],
    encode: Callable[[list], np.ndarray],
    cache: EmbeddingCache,
    batch_size: int,
    desc: str,
    on_batch: Callable[[], None] | None = None,
    background: bool = True,
) -> np.ndarray:
    """Encode the keys the cache lacks, one atomically saved batch at a time; return all keys' vectors.

    ``background``: the next batches are loaded (images decoded) in a background thread while the model encodes
    this one (prefetch.overlaps_compute says when that pays).
    """
    todo = cache.missing(keys)
    log.info("%s: %d unique, %d cached, %d to encode", desc, len(set(keys)), len(set(keys)) - len(todo), len(todo))
    batches = [todo[start:start + batch_size] for start in range(0, len(todo), batch_size)]
    loaded = prefetched(batches, lambda batch: [load(k) for k in batch], background=background)
    for batch, items in tqdm(loaded, total=len(batches), desc=desc, unit="batch", mininterval=5):
        cache.add(batch, encode(items))
        if on_batch is not None:
            on_batch()
    return cache.matrix(keys)
