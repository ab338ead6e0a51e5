"""Find the uBench shards (local folder or Hugging Face cache/hub) and prove they are the pinned release.

Nothing here touches the network at import time: ``huggingface_hub`` is imported only when a download is asked for.
Checksums are recorded in a small JSON sidecar keyed by (path, size, mtime), so a rebuild re-hashes a 500 MB shard
only when the file changed.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from mubench.hf_cache import hub_cache, hub_offline
from mubench.io import sha256_file, write_json

log = logging.getLogger(__name__)

REPO_ID = "jnirschl/uBench"
REVISION = "3f2c5b590bc7a208d5b60f3527ce4c76a331aa2b"
SUBFOLDER = "perception/0.1.0"

# SHA-256 of the seven Arrow IPC stream shards at REVISION (DESIGN §2).
SHARD_SHA256 = {
    "ubench-test-00000-of-00007.arrow": "3d346134e6dffed41f74da64c1c173f5efd3a10200805796a030357297b630f1",
    "ubench-test-00001-of-00007.arrow": "790591636ae679afa1161664d207c2bb2e3d583690d03967e38364ba0f31ccac",
    "ubench-test-00002-of-00007.arrow": "c370cd84e6ed9b00483ef3d20f5c06d5ff2264733ea87f2df98cf9a22820bf74",
    "ubench-test-00003-of-00007.arrow": "832cdd6f73a132028584b4e47ec1afe643e0490dd8ec9686eabbb9de3eb7f814",
    "ubench-test-00004-of-00007.arrow": "e2741415cef1327ba243f21000ac43aab2d36b61a9c2c862a1d0e21f200f4a69",
    "ubench-test-00005-of-00007.arrow": "89deae84ed2dab1bb1fc40be0aefe81b8d94590cec548d1950ff5ff853143d34",
    "ubench-test-00006-of-00007.arrow": "534beca2084a250d4436340c78accc9fe7cc2d6063d4884302e7e7f141edad6c",
}


class UBenchSourceError(RuntimeError):
    """The uBench release cannot be found or is not the pinned one; the message says what to do."""


def _folder_with_shards(root: Path, shard_names) -> Path | None:
    for folder in (root, root / SUBFOLDER):
        if all((folder / name).is_file() for name in shard_names):
            return folder
    return None


def locate_shards(path: str | os.PathLike | None, shard_names, *, repo_id: str = REPO_ID,
                  revision: str = REVISION) -> dict[str, Path]:
    """Shard name → file: from ``path`` when given, else the HF cache (downloading only when online)."""
    if path is not None:
        root = Path(path).expanduser()
        folder = _folder_with_shards(root, shard_names)
        if folder is None:
            missing = [n for n in shard_names if not (root / n).is_file() and not (root / SUBFOLDER / n).is_file()]
            raise UBenchSourceError(
                f"benchmark.ubench.path = {root}: shards {missing} not found there or under {root / SUBFOLDER}; "
                f"copy {SUBFOLDER}/ of {repo_id}@{revision} there")
        return {name: folder / name for name in shard_names}

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    offline = hub_offline()
    try:
        snapshot = snapshot_download(repo_id, repo_type="dataset", revision=revision, cache_dir=hub_cache(),
                                     allow_patterns=[f"{SUBFOLDER}/*"], local_files_only=offline)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as err:
        if not offline:
            raise
        raise UBenchSourceError(
            f"uBench ({repo_id}@{revision}) is not available offline; set benchmark.ubench.path to a local copy of "
            f"{SUBFOLDER}/ or HF_HOME to a Hugging Face cache that holds it (looked in {hub_cache()}), "
            f"or unset HF_HUB_OFFLINE to download it") from err
    folder = _folder_with_shards(Path(snapshot), shard_names)
    if folder is None:
        raise UBenchSourceError(f"{repo_id}@{revision}: snapshot {snapshot} lacks some of {list(shard_names)} "
                                f"under {SUBFOLDER}/ (interrupted download? delete it and retry)")
    return {name: folder / name for name in shard_names}


def _load_record(record_path: Path) -> dict:
    """The recorded checksums; an unreadable record only costs re-hashing, so it is logged and ignored."""
    if not record_path.is_file():
        return {}
    try:
        with open(record_path) as fh:
            record = json.load(fh)
    except (OSError, ValueError) as err:
        log.warning("checksum record %s is unreadable (%s): every shard is hashed again", record_path, err)
        return {}
    return record if isinstance(record, dict) else {}


def hash_files(files: dict[str, Path], record_path: str | os.PathLike) -> dict[str, dict]:
    """name → {sha256, bytes} of every file; a file whose (resolved path, size, mtime) matches the record is not
    hashed again."""
    record_path = Path(record_path)
    record = _load_record(record_path)
    hashed = {}
    for name, path in files.items():
        real = path.resolve()
        stat = real.stat()
        key = str(real)
        seen = record.get(key)
        if seen and seen["bytes"] == stat.st_size and seen["mtime_ns"] == stat.st_mtime_ns:
            actual = seen["sha256"]
        else:
            log.info("hashing %s (%.0f MB)", name, stat.st_size / 1e6)
            actual = sha256_file(real)
            record[key] = dict(sha256=actual, bytes=stat.st_size, mtime_ns=stat.st_mtime_ns)
            write_json(record_path, record)
        hashed[name] = dict(sha256=actual, bytes=stat.st_size)
    return hashed


def verify_shards(shards: dict[str, Path], expected: dict[str, str], record_path: str | os.PathLike) -> dict:
    """SHA-256 of every shard checked against ``expected`` before anything reads it; returns name → {sha256, bytes}."""
    verified = hash_files(shards, record_path)
    for name, found in verified.items():
        if found["sha256"] != expected[name]:
            raise UBenchSourceError(
                f"shard {name} ({shards[name]}, {found['bytes']} bytes) has SHA-256 {found['sha256']}, expected "
                f"{expected[name]}: the file is truncated or not from the pinned revision; delete it and fetch it "
                f"again")
    return verified
