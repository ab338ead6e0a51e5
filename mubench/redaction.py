"""Secrets never reach a log, an error message or an output: every such text passes through ``redact``.

What counts as a secret: the current value of each token variable below, in the encodings an endpoint or a
library may echo it in (base64 — standard or URL-safe, at any offset, so also inside the base64 of a whole
``Authorization: Bearer <key>`` header or of a request dump —, hex, percent-encoding), and whatever follows
``Bearer`` or an ``Authorization:`` header. The values are read from the environment at each call, so a key set
after import is still caught.
"""

from __future__ import annotations

import base64
import functools
import os
import re
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

SECRET_ENV = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
MASK = "[REDACTED]"
MIN_SECRET_LENGTH = 6  # shorter values (a placeholder like "x") would mask ordinary words
_HEADER = r"authorization[\"']?\s*[:=]\s*[\"']?"
_HEADER_SECRETS = re.compile(rf"(?i)((?:{_HEADER})?bearer\s+|{_HEADER})[^\s\"',;}}]+")
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")


def secret_values() -> list[str]:
    """The secrets set in the environment now, longest first (so one never masks part of another)."""
    values = {os.environ.get(name, "").strip() for name in SECRET_ENV}
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def _base64_cores(secret: bytes) -> list[str]:
    """The base64 characters fixed by ``secret`` alone, for each of its three possible offsets in an encoded text.

    Base64 maps 3 bytes to 4 characters, so a secret inside a longer encoded text (a whole header, a JSON dump)
    appears as one of three strings, whatever surrounds it; the characters that mix in neighbouring bytes are
    left out."""
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode("ascii")
        end = offset + len(secret)
        # character i encodes bits of bytes 3(i//4) + (0, 0, 1, 2)[i%4] … 3(i//4) + (0, 1, 2, 2)[i%4]
        pure = [i for i in range(len(encoded)) if 3 * (i // 4) + (0, 0, 1, 2)[i % 4] >= offset
                and 3 * (i // 4) + (0, 1, 2, 2)[i % 4] < end]
        core = encoded[pure[0]:pure[-1] + 1] if pure else ""
        cores += [core, core.replace("+", "-").replace("/", "_")]
    return [c for c in dict.fromkeys(cores) if len(c) >= MIN_SECRET_LENGTH]


@functools.lru_cache(maxsize=8)
def _patterns(secrets: tuple[str, ...]) -> tuple[re.Pattern | None, re.Pattern | None]:
    """(the secrets as written, hex or percent-encoded; their base64 cores), built once per set of secrets."""
    plain, cores = set(), {}
    for secret in secrets:
        data = secret.encode("utf-8")
        plain |= {secret, quote(secret, safe=""), quote_plus(secret), data.hex(), data.hex().upper()}
        cores.update(dict.fromkeys(_base64_cores(data)))
    as_regex = lambda texts: re.compile("|".join(map(re.escape, sorted(texts, key=len, reverse=True))))  # noqa: E731
    return (as_regex(plain) if plain else None), (as_regex(cores) if cores else None)


def _mask_base64(text: str, cores: re.Pattern) -> str:
    """Mask each base64 token holding a secret's core whole (its padding too), in one pass over ``text``."""
    out, pos = [], 0
    for found in cores.finditer(text):
        start, end = found.start(), found.end()
        if start < pos:  # inside a token already masked
            continue
        while start > pos and text[start - 1] in _BASE64_CHARS:
            start -= 1
        while end < len(text) and text[end] in _BASE64_CHARS:
            end += 1
        while end < len(text) and text[end] == "=":
            end += 1
        out += [text[pos:start], MASK]
        pos = end
    return "".join(out) + text[pos:]


def redact(text: str) -> str:
    """``text`` with every secret value (in any encoding above) and every bearer/Authorization credential
    replaced by [REDACTED]."""
    plain, cores = _patterns(tuple(secret_values()))
    if plain is not None:
        text = plain.sub(MASK, text)
    if cores is not None:
        text = _mask_base64(text, cores)
    return _HEADER_SECRETS.sub(lambda m: m.group(1) + MASK, text)


def display_url(url: str) -> str:
    """``url`` fit for a message: no user:password and no query values (either may carry a key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    query = "&".join(f"{field.split('=', 1)[0]}=…" for field in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, host, parts.path, query, ""))
