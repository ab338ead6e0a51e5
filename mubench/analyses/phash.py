"""Perceptual near-duplicates within each dataset (appendix E.5): 64-bit pHash and all-pairs Hamming distances.

Hashes are packed into one uint64 per image, so the distance of two images is popcount(a XOR b): every pair of a
dataset is compared in vectorised blocks, with memory bounded by ``block × n`` bytes.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mubench.answering.embedding_cache import EmbeddingCache, encode_cached

HASH_SIZE = 8  # imagehash default: an 8×8 DCT block → 64 bits
HASH_VERSION = f"phash-{HASH_SIZE}-v1"  # cache folder name: bump when the hash computation changes
NO_NEIGHBOUR = 255  # distance reported for an image that is alone in its dataset (any real distance is ≤ 64)
SIMILARITY_COLUMNS = ["dataset", "similar_images", "total_images", "percent_similar"]


def hash_bytes(path: str | Path) -> np.ndarray:
    """The image's 64-bit pHash as 8 bytes (big-endian bit order, as imagehash prints it in hex)."""
    import imagehash
    from PIL import Image

    try:
        with Image.open(path) as image:
            bits = imagehash.phash(image, hash_size=HASH_SIZE).hash
    except (FileNotFoundError, OSError) as err:
        raise OSError(f"pHash: cannot read benchmark image {path}: {err}") from err
    return np.packbits(bits.ravel())


def as_uint64(packed: np.ndarray) -> np.ndarray:
    """(n, 8) packed bytes → (n,) uint64."""
    return np.ascontiguousarray(packed, dtype=np.uint8).view(">u8").ravel().astype(np.uint64)


def image_hashes(paths: Sequence[Path], md5s: Sequence[str], cache_dir: Path, workers: int,
                 chunk: int = 512) -> np.ndarray:
    """uint64 pHash per image, computed in ``workers`` processes and cached by md5 in chunks (resumable)."""
    cache = EmbeddingCache(Path(cache_dir) / HASH_VERSION)
    files = dict(zip(md5s, paths))
    if workers <= 1 or not cache.missing(md5s):
        packed = encode_cached(list(md5s), files.__getitem__, lambda batch: np.stack([hash_bytes(p) for p in batch]),
                               cache, chunk, "pHash")
        return as_uint64(packed)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        packed = encode_cached(list(md5s), files.__getitem__,
                               lambda batch: np.stack(list(pool.map(hash_bytes, batch, chunksize=16))),
                               cache, chunk, "pHash")
    return as_uint64(packed)


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances (uint8) between two uint64 hash arrays."""
    return np.bitwise_count(a[:, None] ^ b[None, :])


def nearest_other_distance(hashes: np.ndarray, block: int = 2048) -> np.ndarray:
    """Per image, the smallest Hamming distance to any *other* image of the array (NO_NEIGHBOUR if none)."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    nearest = np.full(len(hashes), NO_NEIGHBOUR, dtype=np.uint8)
    for start in range(0, len(hashes), block):
        distances = hamming_matrix(hashes[start:start + block], hashes)
        rows = np.arange(len(distances))
        distances[rows, start + rows] = NO_NEIGHBOUR  # an image is not its own near-duplicate
        nearest[start:start + block] = distances.min(axis=1, initial=NO_NEIGHBOUR)
    return nearest


def similarity_table(datasets: Sequence[str], hashes: np.ndarray, threshold: int) -> pd.DataFrame:
    """Per dataset: images with another image of the same dataset within ``threshold`` bits, most similar first."""
    frame = pd.DataFrame({"dataset": np.asarray(datasets, dtype=object), "hash": np.asarray(hashes, np.uint64)})
    rows = []
    for dataset, group in frame.groupby("dataset", sort=True):
        similar = int((nearest_other_distance(group["hash"].to_numpy()) <= threshold).sum())
        rows.append((dataset, similar, len(group)))
    table = pd.DataFrame(rows, columns=SIMILARITY_COLUMNS[:3])
    table["percent_similar"] = 100 * table["similar_images"] / table["total_images"]
    return table.sort_values(["percent_similar", "dataset"], ascending=[False, True], kind="stable",
                             ignore_index=True)


def with_averages(table: pd.DataFrame) -> pd.DataFrame:
    """Append the weighted (pooled over images) and macro (mean over datasets) averages as two rows.

    The macro row has no image counts: it averages percentages.
    """
    similar, total = table["similar_images"].sum(), table["total_images"].sum()
    averages = pd.DataFrame([
        {"dataset": "weighted average", "similar_images": similar, "total_images": total,
         "percent_similar": 100 * similar / total if total else float("nan")},
        {"dataset": "macro average", "similar_images": None, "total_images": None,
         "percent_similar": table["percent_similar"].mean()},
    ])
    out = pd.concat([table, averages], ignore_index=True)
    return out.astype({"similar_images": "Int64", "total_images": "Int64"})


def datasets_above(table: pd.DataFrame, max_percent: float) -> list[str]:
    """Datasets whose share of near-duplicate images exceeds ``max_percent`` (averages rows excluded)."""
    return sorted(table.loc[table["percent_similar"] > max_percent, "dataset"])
