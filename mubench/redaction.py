"""Secrets never reach a log, an error message or an output: every such text passes through ``redact``.

What counts as a secret: the current value of each token variable below, and whatever follows ``Bearer`` or an
``Authorization:`` header (an endpoint may echo the request's headers in an error body). The values are read from
the environment at each call, so a key set after import is still caught.
"""

from __future__ import annotations

import os
import re

SECRET_ENV = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
MASK = "[REDACTED]"
MIN_SECRET_LENGTH = 6  # shorter values (a placeholder like "x") would mask ordinary words
_HEADER = r"authorization[\"']?\s*[:=]\s*[\"']?"
_HEADER_SECRETS = re.compile(rf"(?i)((?:{_HEADER})?bearer\s+|{_HEADER})[^\s\"',;}}]+")


def secret_values() -> list[str]:
    """The secrets set in the environment now, longest first (so one never masks part of another)."""
    values = {os.environ.get(name, "").strip() for name in SECRET_ENV}
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every secret value and every bearer/Authorization credential replaced by [REDACTED]."""
    for value in secret_values():
        text = text.replace(value, MASK)
    return _HEADER_SECRETS.sub(lambda m: m.group(1) + MASK, text)
