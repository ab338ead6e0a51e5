"""Any OpenAI-compatible chat-completions endpoint (GPT-4o in the paper) with the paper's request settings.

The key is read from OPENAI_API_KEY only and goes nowhere but the Authorization header: never into logs, errors
or outputs (a reply body quoted in a message is redacted first, as an endpoint may echo the request's headers).
Requests run concurrently up to ``concurrency``; 429, 5xx, timeouts, connection errors and malformed replies are
retried with exponential backoff (honouring Retry-After), each counted in the log. A request that still fails
after ``max_retries`` yields no answer; the engine then stops the job after caching every success.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Iterator, Sequence

import requests
from PIL import Image

from mubench.checks import MISSING, OK, Check
from mubench.models.base import ModelLoadError
from mubench.models.spec import ModelSpec
from mubench.redaction import redact

log = logging.getLogger(__name__)

KEY_ENV = "OPENAI_API_KEY"
MAX_BACKOFF_S = 60.0


class TransientError(RuntimeError):
    """Worth retrying: rate limit, server error, timeout, dropped connection or an unreadable reply."""


def image_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class OpenAIChatModel:
    def __init__(self, spec: ModelSpec, device: str = "cpu"):
        key = os.environ.get(KEY_ENV, "")
        if not key:
            raise ModelLoadError(f"model {spec.name!r}: set the {KEY_ENV} environment variable to the API key "
                                 f"for {spec.base_url}")
        if not spec.api_model:
            raise ModelLoadError(f"model {spec.name!r}: `api_model` (the endpoint's model name) is required")
        if spec.scoring != "generate":  # an endpoint returns text, never next-token logits
            raise ModelLoadError(f"model {spec.name!r}: the API family supports only `scoring: generate`")
        self.spec = spec
        self.url = spec.base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {key}"}
        self._local = threading.local()  # one requests.Session per worker thread
        self.failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def request_body(self, images: Sequence[Image.Image], prompt: str) -> dict:
        """The paper's settings: temperature 1, seed 0, max_tokens 2048, the text then every image of the question
        (MicroVQA's order too) as base64 PNG, detail high."""
        content = [{"type": "text", "text": prompt}] + [
            {"type": "image_url", "image_url": {"url": image_data_url(image), "detail": "high"}} for image in images
        ]
        return {
            "model": self.spec.api_model,
            "messages": [{"role": "user", "content": content}],
            "temperature": self.spec.temperature,
            "seed": self.spec.seed,
            "max_tokens": self.spec.max_new_tokens,
        }

    def generate(
        self, images: Sequence[Sequence[Image.Image]], prompts: Sequence[str], n_options: Sequence[int]
    ) -> Iterator[tuple[int, str, None]]:
        with ThreadPoolExecutor(max_workers=self.spec.concurrency) as pool:
            futures = {pool.submit(self._ask, self.request_body(im, p)): i
                       for i, (im, p) in enumerate(zip(images, prompts))}
            refused = []  # non-retryable replies: the batch's other answers are still yielded (and cached)
            for future in as_completed(futures):
                try:
                    response = future.result()
                except ModelLoadError as err:
                    refused.append((futures[future], err))
                    continue
                if response is not None:
                    yield futures[future], response, None
        if self.failures:
            log.info("failed attempts so far, by cause: %s", self.failures)
        if refused:
            pos, err = min(refused, key=lambda item: item[0])
            question = next((line for line in prompts[pos].splitlines() if line.startswith("Question:")), "")
            raise ModelLoadError(f"{err} — {len(refused)} of {len(prompts)} requests of this batch refused, e.g. "
                                 f"{question[:120]!r}; the batch's answered questions are cached") from err

    def _count(self, kind: str) -> None:
        with self._lock:
            self.failures[kind] = self.failures.get(kind, 0) + 1

    def _ask(self, body: dict) -> str | None:
        """The reply's text, or None once every retry failed (the reason is logged, never the key)."""
        for attempt in range(self.spec.max_retries + 1):
            try:
                return self._post(body)
            except TransientError as err:
                self._count(err.args[0])
                if attempt == self.spec.max_retries:
                    log.error("giving up after %d attempts: %s", attempt + 1, err.args[1])
                    return None
                wait = err.args[2] if err.args[2] is not None else self.spec.retry_base_s * 2 ** attempt
                log.warning("attempt %d failed (%s); retrying in %.2fs", attempt + 1, err.args[1], wait)
                time.sleep(min(wait, MAX_BACKOFF_S))
        return None

    def _post(self, body: dict) -> str:
        session = getattr(self._local, "session", None) or requests.Session()
        self._local.session = session
        try:
            reply = session.post(self.url, json=body, headers=self._headers, timeout=self.spec.request_timeout_s)
        except requests.Timeout:
            raise TransientError("timeout", f"no reply within {self.spec.request_timeout_s}s", None) from None
        except requests.ConnectionError as err:
            raise TransientError("connection", f"connection error ({type(err).__name__})", None) from None
        if reply.status_code == 429 or reply.status_code >= 500:
            raise TransientError(f"http_{reply.status_code}", f"HTTP {reply.status_code}", _retry_after(reply))
        if reply.status_code in (401, 403):  # the body may quote part of the key: never show it
            raise ModelLoadError(f"model {self.spec.name!r}: {self.url} refused the key in {KEY_ENV} "
                                 f"(HTTP {reply.status_code})")
        if reply.status_code != 200:
            raise ModelLoadError(f"model {self.spec.name!r}: {self.url} answered HTTP {reply.status_code}: "
                                 f"{redact(reply.text)[:300]}")
        try:
            content = reply.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise TransientError("malformed", f"malformed reply {redact(reply.text)[:80]!r}", None) from None
        return redact(content or "")  # an endpoint that echoes the request could put the key in the answer


def _retry_after(reply: requests.Response) -> float | None:
    try:
        return float(reply.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def weights_check(item: str, spec: ModelSpec) -> Check:
    """Weights hook of the API family: no weights, but the key, which only the environment may hold."""
    if os.environ.get("OPENAI_API_KEY"):
        return Check(item, OK, f"OPENAI_API_KEY is set; endpoint {spec.base_url}")
    return Check(item, MISSING, "OPENAI_API_KEY is not set",
                 "export OPENAI_API_KEY in the environment that starts snakemake (never in a file)")
