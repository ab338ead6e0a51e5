"""Small I/O helpers shared by every stage: atomic writes so an interrupted job never leaves half a file."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable


def _process_umask() -> int:
    """The umask, read without changing it where Linux reports it (os.umask can only set-and-restore)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class OutputWriteError(OSError):
    """An output could not be written (disk full, file-size limit, read-only or not writable); the message names
    the output, the filesystem and its free space or the limit. ``errno`` is the original one."""


# Writers outside Python's io (pyarrow, safetensors' Rust code) report a full disk or a file-size limit in their
# own exception types.
_DISK_FULL_TEXT = ("No space left on device", "StorageFull", "Disk quota exceeded")
_TOO_LARGE_TEXT = ("File too large", "FileTooLarge")


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def _file_size_limit() -> str:
    """The process's RLIMIT_FSIZE (``ulimit -f``) for a message."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    except (ImportError, OSError, ValueError):
        return "unknown"
    return "unlimited" if soft == resource.RLIM_INFINITY else _size(soft)


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def _write_error(path: Path, err: BaseException, written: int | None = None) -> OutputWriteError | None:
    """A message for people when ``err`` is a filesystem refusal; None for any other error."""
    code = getattr(err, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT) or any(text in str(err) for text in _DISK_FULL_TEXT):
        mount = _mount_point(path.parent)
        usage = shutil.disk_usage(mount)
        partial = f", after {_size(written)} of this file" if written else ""
        return OutputWriteError(
            code or errno.ENOSPC,
            f"cannot write {path}: the filesystem at {mount} is full ({_size(usage.free)} free of "
            f"{_size(usage.total)}{partial}). Free space there, or put results/ on a larger disk, and rerun; "
            "no partial file was left")
    if code == errno.EFBIG or any(text in str(err) for text in _TOO_LARGE_TEXT):
        at = f" at {_size(written)}" if written else ""
        return OutputWriteError(
            code or errno.EFBIG,
            f"cannot write {path}: the file reached a size limit{at} (EFBIG: the file-size limit of this process, "
            f"`ulimit -f` = {_file_size_limit()}, or the largest file the filesystem at {_mount_point(path.parent)} "
            "holds). Raise the limit (or put results/ on a filesystem that takes larger files) and rerun; no "
            "partial file was left")
    if code == errno.EROFS:
        return OutputWriteError(code, f"cannot write {path}: the filesystem at {_mount_point(path.parent)} is "
                                      "mounted read-only")
    if code in (errno.EACCES, errno.EPERM):
        return OutputWriteError(code, f"cannot write {path}: no permission to create files in {path.parent}")
    return None


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``; a crash leaves either the old file or none.

    The file gets the permissions an ordinary ``open`` would (0666 minus the umask: 0644 under umask 022), not
    mkstemp's private 0600, so a lab's shared results folder stays readable by the group. A full, read-only or
    unwritable filesystem, or a file-size limit, raises OutputWriteError naming the output and the filesystem."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise (_write_error(path, err) or err) from err
    os.fchmod(fd, 0o666 & ~_process_umask())
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        written = os.path.getsize(tmp) if os.path.exists(tmp) else None
        readable = _write_error(path, err, written)  # before the unlink frees the space it reports
        if written is not None:
            os.unlink(tmp)
        if readable is None:
            raise
        raise readable from err


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
