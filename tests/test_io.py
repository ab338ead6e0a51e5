"""Outputs are written atomically and readable by the lab: the umask decides their mode, as for any file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from mubench.io import atomic_write


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_honours_the_umask(tmp_path, umask, expected):
    """Under umask 022 a result is 0644 (group/other-readable), not mkstemp's private 0600."""
    target = tmp_path / "table.csv"
    code = ("import sys; from pathlib import Path; from mubench.io import atomic_write; "
            "atomic_write(sys.argv[1], lambda tmp: Path(tmp).write_text('a,b\\n'))")
    subprocess.run([sys.executable, "-c", code, str(target)], check=True, preexec_fn=lambda: os.umask(umask))
    assert target.read_text() == "a,b\n"
    assert _mode(target) == expected


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def broken(tmp):
        with open(tmp, "w") as fh:
            fh.write("half")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError, match="crash mid-write"):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
