"""Send a job's logging, warnings, progress bars and any traceback to its Snakemake log file."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def log_to(path: str | Path) -> Iterator[None]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        with contextlib.redirect_stderr(stream):
            try:
                yield
            except BaseException:
                logging.getLogger("mubench").exception("job failed")
                raise
            finally:
                root.removeHandler(handler)
