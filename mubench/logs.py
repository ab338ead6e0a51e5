"""Send a job's logging, warnings, progress bars and any traceback to its Snakemake log file, secrets redacted.

Every line reaches the file through ``redact`` (mubench.redaction): log records, their tracebacks, and anything
written to stderr. An exception whose text holds a secret is re-raised with that text redacted, so the
traceback Python prints after the job (which Snakemake shows and keeps in its own log) cannot leak it either.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from pathlib import Path
from typing import Iterator, TextIO

from mubench.redaction import redact


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactingStream:
    """A text stream that redacts what is written to it (stderr of a job: warnings, tqdm, stray prints)."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str):  # fileno, encoding, …: what libraries probe on sys.stderr
        return getattr(self.stream, name)


class SecretRedactedError(RuntimeError):
    """Stands in for an exception whose message or traceback quoted a secret; its text is redacted."""


def without_secrets(err: BaseException) -> BaseException:
    """``err`` itself, or a SecretRedactedError carrying its redacted traceback when that text holds a secret."""
    text = "".join(traceback.format_exception(err))
    if redact(text) == text:
        return err
    return SecretRedactedError(redact(f"{type(err).__name__}: {err}") + "\n(original traceback, redacted:)\n"
                               + redact(text))


@contextlib.contextmanager
def log_to(path: str | Path) -> Iterator[None]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as file:
        stream = RedactingStream(file)
        handler = logging.StreamHandler(stream)
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        with contextlib.redirect_stderr(stream):
            try:
                yield
            except BaseException as err:
                logging.getLogger("mubench").exception("job failed")
                safe = without_secrets(err)
                if safe is err:
                    raise
                raise safe from None
            finally:
                root.removeHandler(handler)
