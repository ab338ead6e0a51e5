"""The frame of every Snakemake job script: its log file, and a cheap end of the process.

When a job's work is done its Python process exits, and the interpreter's last garbage collections walk every object
it still holds: importing open_clip alone leaves about 400,000. Freezing them (``gc.freeze``) first skips that walk
and nothing else (files are closed and flushed as before): about 0.8 s of CPU per model job; the demo's 38 jobs took
135 s of CPU instead of 153 s (paired runs on 2 cores, outputs byte-identical).
"""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path
from typing import Iterator

from mubench.logs import log_to


@contextlib.contextmanager
def job(log_path: str | Path) -> Iterator[None]:
    """Run the body as a job logged to ``log_path`` (``log_to``); the process is expected to end right after."""
    try:
        with log_to(log_path):
            yield
    finally:
        gc.freeze()
