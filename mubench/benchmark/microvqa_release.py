"""Find a MicroVQA / MicroVQA++ release (Hugging Face datasets' parquet layout) and read it a record batch at a time.

The layout is ``[data/]{split}-{i:05d}-of-{n:05d}.parquet``. A local folder (``benchmark.<source>.path``) is read as
is; otherwise the hub cache at the configured revision is used (downloaded only when HF_HUB_OFFLINE is unset).
No commit hash is built in: the revision is a config value, recorded with every file's SHA-256 in the manifest, and
checked against ``benchmark.<source>.sha256`` when that is given.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow.parquet as pq

from mubench.benchmark.ubench_acquire import hash_files
from mubench.hf_cache import hub_cache, hub_offline

SHARD_NAME = re.compile(r"^(?P<split>[A-Za-z0-9_.]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")


class ReleaseError(RuntimeError):
    """The release cannot be found, is incomplete, or is not the one the config pins; the message says what to do."""


def _shards_by_split(folder: Path) -> dict[str, dict[str, Path]]:
    found: dict[str, dict[str, Path]] = defaultdict(dict)
    for sub in (folder, folder / "data"):
        for file in sorted(sub.glob("*.parquet")) if sub.is_dir() else []:
            match = SHARD_NAME.match(file.name)
            if match:
                found[match["split"]][file.name] = file
    return found


def _complete(split: str, shards: dict[str, Path], where: str) -> dict[str, Path]:
    counts = {int(SHARD_NAME.match(name)["count"]) for name in shards}
    if len(counts) != 1:
        raise ReleaseError(f"{where}: the {split} shards disagree on their number ({sorted(counts)})")
    count = counts.pop()
    expected = [f"{split}-{i:05d}-of-{count:05d}.parquet" for i in range(count)]
    missing = [name for name in expected if name not in shards]
    if missing:
        raise ReleaseError(f"{where}: {split} shards {missing} are missing (interrupted copy or download?)")
    return {name: shards[name] for name in expected}


def choose_split(found: dict[str, dict[str, Path]], split: str | None, where: str, key: str) -> tuple[str, dict]:
    """The configured split, or the only one present; its complete, ordered shard list."""
    if not found:
        raise ReleaseError(f"{where}: no parquet shards named <split>-00000-of-0000N.parquet there or under data/")
    if split is None:
        if len(found) > 1:
            raise ReleaseError(f"{where} holds the splits {sorted(found)}: set benchmark.{key}.split to the one to "
                               f"evaluate")
        split = next(iter(found))
    if split not in found:
        raise ReleaseError(f"{where}: no {split!r} shards (benchmark.{key}.split); found {sorted(found)}: set "
                           f"benchmark.{key}.split to one of them (or null to take the only one present)")
    return split, _complete(split, found[split], where)


def locate_release(key: str, path: str | None, repo_id: str | None, revision: str | None, split: str | None,
                   download: bool = True) -> tuple[str, dict[str, Path], str]:
    """(split, shard name → file, where it came from) from the local folder, else the hub cache at ``revision``
    (downloaded into it only when ``download`` and HF_HUB_OFFLINE is unset)."""
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ReleaseError(f"benchmark.{key}.path = {folder} is not a folder")
        chosen, shards = choose_split(_shards_by_split(folder), split, f"benchmark.{key}.path = {folder}", key)
        return chosen, shards, str(folder)
    if not repo_id or not revision:
        raise ReleaseError(
            f"benchmark.{key}: set `path` to a local folder of the release's parquet files, or `repo_id` and "
            f"`revision` (the hub commit you evaluate; mubench pins none for you) to read the Hugging Face cache")

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    offline = hub_offline() or not download
    try:
        snapshot = snapshot_download(repo_id, repo_type="dataset", revision=revision, cache_dir=hub_cache(),
                                     allow_patterns=["*.parquet", "data/*.parquet"], local_files_only=offline)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as err:
        if not offline:
            raise
        raise ReleaseError(
            f"{repo_id}@{revision} is not in the Hugging Face cache; set benchmark.{key}.path to a local copy of its parquet "
            f"files, or HF_HOME to a Hugging Face cache that holds it (looked in {hub_cache()}), or unset "
            f"HF_HUB_OFFLINE and build to download it") from err
    where = f"{repo_id}@{revision} (snapshot {snapshot})"
    chosen, shards = choose_split(_shards_by_split(Path(snapshot)), split, where, key)
    return chosen, shards, where


def check_hashes(key: str, shards: dict[str, Path], expected: dict[str, str] | None, record_path: Path) -> dict:
    """name → {sha256, bytes}; compared with ``expected`` when the config gives hashes (every shard must be named)."""
    hashed = hash_files(shards, record_path)
    if expected:
        unnamed = sorted(set(shards) - set(expected))
        if unnamed:
            raise ReleaseError(f"benchmark.{key}.sha256 names no hash for {unnamed}; give one per shard")
        for name, found in hashed.items():
            if found["sha256"] != expected[name]:
                raise ReleaseError(
                    f"shard {name} ({shards[name]}, {found['bytes']} bytes) has SHA-256 {found['sha256']}, expected "
                    f"{expected[name]} (benchmark.{key}.sha256): not the pinned release, or a damaged copy")
    return hashed


def release_columns(shards: dict[str, Path]) -> list[str]:
    """The columns of the first shard; every other shard must have the same."""
    names = [pq.read_schema(path).names for path in shards.values()]
    for (name, path), columns in zip(shards.items(), names):
        if columns != names[0]:
            raise ReleaseError(f"shard {name} ({path}) has columns {columns}, unlike the first shard's {names[0]}")
    return names[0]


def iter_rows(shards: dict[str, Path], columns: Sequence[str], batch_size: int = 32) -> Iterator[tuple[str, int, dict]]:
    """(shard name, row number within the split, row) for every row, one record batch in memory at a time."""
    number = 0
    for name, path in shards.items():
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=list(columns)):
            for row in batch.to_pylist():
                yield name, number, row
                number += 1
