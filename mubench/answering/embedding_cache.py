"""Per-sample embedding cache: finished batches survive an interrupted job and are never recomputed.

One ``.npz`` per finished batch, written atomically and keyed by content (image md5, text hash), so a rerun —
or another subset's job of the same model — loads what exists and encodes only what is missing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from mubench.io import atomic_write


class EmbeddingCache:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._vectors: dict[str, np.ndarray] = {}
        for chunk in sorted(self.folder.glob("*.npz")):
            try:
                with np.load(chunk) as data:
                    self._vectors.update(zip(data["keys"].tolist(), data["vectors"]))
            except (OSError, ValueError, KeyError) as err:
                raise RuntimeError(f"embedding cache chunk {chunk} is unreadable ({err}); delete it to recompute") from err

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
