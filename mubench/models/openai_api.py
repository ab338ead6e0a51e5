"""Any OpenAI-compatible chat-completions endpoint (GPT-4o in the paper) with the paper's request settings.

The key is read from OPENAI_API_KEY only and goes nowhere but the Authorization header: never into logs, errors
or outputs (a reply body quoted in a message is redacted first, as an endpoint may echo the request's headers;
the URL is shown without user, password or query values).

Every run is bounded, whatever the endpoint does. One request gets ``request_timeout_s`` of wall-clock time for
connecting, headers and body together (a server that trickles its reply is cut off at the deadline), and at most
``max_reply_bytes``. 429, 5xx, timeouts, dropped connections and malformed replies are retried with exponential
backoff, each wait at most ``max_retry_wait_s``; a Retry-After within that cap is honoured, a longer one fails the
question at once (retrying sooner than the endpoint asks would ignore it). A question's attempts and waits stop
once ``retry_budget_s`` is spent or after ``max_retries`` retries; it then has no answer, and the engine stops the
job after caching every success. After ``max_consecutive_failures`` questions in a row got no answer the endpoint
is taken as down: the batch's remaining requests are not sent and the job stops, naming the model, URL and
question. Every failed attempt is counted by cause in the log.
"""

from __future__ import annotations

import base64
import email.utils
import io
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Iterator, Sequence

import requests
import urllib3
from PIL import Image

from mubench.checks import MISSING, OK, Check
from mubench.models.base import ModelLoadError
from mubench.models.spec import ModelSpec
from mubench.redaction import display_url, redact

log = logging.getLogger(__name__)

KEY_ENV = "OPENAI_API_KEY"
READ_CHUNK = 1 << 16  # bytes asked of the socket per read while streaming a reply


class TransientError(RuntimeError):
    """Worth retrying: rate limit, server error, timeout, dropped connection or an unreadable reply."""

    def __init__(self, cause: str, detail: str, retry_after: float | None = None):
        super().__init__(cause, detail, retry_after)
        self.cause, self.detail, self.retry_after = cause, detail, retry_after


class EndpointDown(ModelLoadError):
    """Several questions in a row got no answer after every retry: the job stops instead of asking the rest."""


def image_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def reply_text(payload) -> str:
    """The answer of a chat-completions reply: ``content`` as a string, or the text of its list of content parts
    (``[{"type": "text", "text": …}, …]``, joined by newlines); null content (a refusal) is the empty answer.
    Anything else raises ValueError saying what came instead."""
    content = payload["choices"][0]["message"]["content"]
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(part, dict) for part in content):
        texts = [part.get("text") for part in content if part.get("type") in ("text", "output_text")]
        if texts and all(isinstance(text, str) for text in texts):
            return "\n".join(texts)
        kinds = sorted({str(part.get("type")) for part in content})
        raise ValueError(f"content is a list of parts without text (types {kinds})")
    raise ValueError(f"content is a {type(content).__name__} ({str(content)[:40]}), not text")


def question_of(prompt: str) -> str:
    """The question a prompt asks, for messages: μ-Bench's ``Question:`` line, else MicroVQA's question paragraph
    (after the instruction), else the prompt's start."""
    line = next((line for line in prompt.splitlines() if line.startswith("Question:")), None)
    if line is None:
        paragraphs = prompt.split("\n\n")
        line = paragraphs[1] if len(paragraphs) > 2 else prompt
    return " ".join(line.split())[:120]


class OpenAIChatModel:
    def __init__(self, spec: ModelSpec, device: str = "cpu"):
        key = os.environ.get(KEY_ENV, "")
        if not key:
            raise ModelLoadError(f"model {spec.name!r}: set the {KEY_ENV} environment variable to the API key "
                                 f"for {display_url(spec.base_url)}")
        if not spec.api_model:
            raise ModelLoadError(f"model {spec.name!r}: `api_model` (the endpoint's model name) is required")
        if spec.scoring != "generate":  # an endpoint returns text, never next-token logits
            raise ModelLoadError(f"model {spec.name!r}: the API family supports only `scoring: generate`")
        self.spec = spec
        self.url = spec.base_url.rstrip("/") + "/chat/completions"
        self.shown_url = display_url(self.url)
        self._headers = {"Authorization": f"Bearer {key}"}
        self._local = threading.local()  # one requests.Session per worker thread
        self.failures: dict[str, int] = {}
        self._lock = threading.Lock()
        self._failed_in_a_row = 0
        self._stop = threading.Event()  # set when the endpoint is taken as down: no further request is sent
        self._last_failure = ""

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
        self._stop.clear()  # (the count of unanswered questions in a row carries over from earlier batches)
        with ThreadPoolExecutor(max_workers=self.spec.concurrency) as pool:
            futures = {pool.submit(self._ask, self.request_body(im, p), question_of(p)): i
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
        if self._stop.is_set():
            n = self.spec.max_consecutive_failures
            raise EndpointDown(f"{self._last_failure}; {n} question{'s' * (n > 1)} in a row got no answer "
                               f"(max_consecutive_failures), so the endpoint is taken as down and the job stops "
                               f"({self.failures.get('not_sent', 0)} requests not sent). The answered questions are "
                               "cached: rerun to ask only the missing ones")
        if refused:
            pos, err = min(refused, key=lambda item: item[0])
            raise ModelLoadError(f"{err} — {len(refused)} of {len(prompts)} requests of this batch refused, e.g. "
                                 f"{question_of(prompts[pos])!r}; the batch's answered questions are cached") from err

    def _count(self, kind: str) -> None:
        with self._lock:
            self.failures[kind] = self.failures.get(kind, 0) + 1

    def _ask(self, body: dict, question: str) -> str | None:
        """The reply's text, or None once the question's retries or its time budget are spent (the reason is
        logged, never the key)."""
        start = time.monotonic()
        attempts = self.spec.max_retries + 1
        for attempt in range(1, attempts + 1):
            if self._stop.is_set():
                self._count("not_sent")
                return None
            try:
                response = self._attempt(body)
            except TransientError as err:
                self._count(err.cause)
                failure = err
            else:
                with self._lock:
                    self._failed_in_a_row = 0
                return response
            wait, plan = self._next_wait(failure, attempt)
            spent = time.monotonic() - start
            if attempt == attempts:
                reason = f"{failure.detail}, and no retry is left (max_retries {self.spec.max_retries})"
            elif wait is None:
                reason = plan
            elif spent + wait > self.spec.retry_budget_s:
                reason = (f"{failure.detail}, and waiting {wait:g} s more would exceed the question's retry budget "
                          f"of {self.spec.retry_budget_s:g} s (retry_budget_s; {spent:.1f} s spent)")
            else:
                log.warning("model %r: attempt %d of %d for %r failed (%s); %s", self.spec.name, attempt, attempts,
                            question, failure.detail, plan)
                self._stop.wait(wait)  # woken early when the endpoint is taken as down
                continue
            self._give_up(question, attempt, time.monotonic() - start, reason)
            return None
        return None

    def _next_wait(self, failure: TransientError, attempt: int) -> tuple[float | None, str]:
        """(seconds to wait before the next attempt, what the log says is done); None = do not retry."""
        cap = self.spec.max_retry_wait_s
        if failure.retry_after is not None:
            if failure.retry_after > cap:
                return None, (f"{failure.detail} with Retry-After {failure.retry_after:g} s, more than the cap of "
                              f"{cap:g} s (max_retry_wait_s): not retrying sooner than the endpoint asks")
            return failure.retry_after, f"waiting {failure.retry_after:g} s as Retry-After asks"
        backoff = self.spec.retry_base_s * 2 ** (attempt - 1)
        if backoff > cap:
            return cap, f"waiting {cap:g} s (backoff {backoff:g} s, capped by max_retry_wait_s)"
        return backoff, f"waiting {backoff:g} s (backoff)"

    def _give_up(self, question: str, attempts: int, elapsed: float, reason: str) -> None:
        message = (f"model {self.spec.name!r}: {self.shown_url} gave no answer to {question!r} after {attempts} "
                   f"attempt{'s' * (attempts > 1)} in {elapsed:.1f} s: {reason}")
        log.error("%s", message)
        with self._lock:
            self._failed_in_a_row += 1
            self._last_failure = message
            if self._failed_in_a_row >= self.spec.max_consecutive_failures:
                self._stop.set()

    def _attempt(self, body: dict) -> str:
        """One request within its wall-clock deadline. It runs in a helper thread, so a server that stalls even
        its headers cannot hold the job: at the deadline the attempt is abandoned (its thread ends with the
        connection) and this worker continues on a new session."""
        session = getattr(self._local, "session", None) or requests.Session()
        self._local.session = session
        deadline = time.monotonic() + self.spec.request_timeout_s
        outcome: dict = {}
        done = threading.Event()

        def run() -> None:
            try:
                outcome["text"] = self._post(session, body, deadline)
            except BaseException as err:  # handed to the waiting worker, which re-raises it
                outcome["error"] = err
            finally:
                done.set()

        threading.Thread(target=run, name="mubench-api-request", daemon=True).start()
        if not done.wait(self.spec.request_timeout_s):
            self._local.session = None  # still in use by the abandoned request
            raise TransientError("timeout", f"no complete reply within {self.spec.request_timeout_s:g} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["text"]

    def _post(self, session: requests.Session, body: dict, deadline: float) -> str:
        timeout = self.spec.request_timeout_s
        try:
            reply = session.post(self.url, json=body, headers=self._headers, timeout=timeout, stream=True)
        except requests.Timeout:
            raise TransientError("timeout", f"no reply within {timeout:g} s") from None
        except requests.TooManyRedirects:
            raise ModelLoadError(f"model {self.spec.name!r}: {self.shown_url} redirects in a loop (more than "
                                 f"{session.max_redirects} redirects); check base_url") from None
        except requests.ConnectionError as err:
            raise TransientError("connection", f"connection error ({type(err).__name__})") from None
        except requests.RequestException as err:
            raise ModelLoadError(f"model {self.spec.name!r}: request to {self.shown_url} failed: "
                                 f"{type(err).__name__}: {redact(str(err))[:300]}") from None
        with reply:
            status = reply.status_code
            if status == 429 or status >= 500:  # the body is not read: it would only be counted
                raise TransientError(f"http_{status}", f"HTTP {status}", _retry_after(reply))
            if status in (401, 403):  # the body may quote part of the key: never show it
                raise ModelLoadError(f"model {self.spec.name!r}: {self.shown_url} refused the key in {KEY_ENV} "
                                     f"(HTTP {status})")
            data = self._read_body(reply, deadline)
        if status != 200:
            raise ModelLoadError(f"model {self.spec.name!r}: {self.shown_url} answered HTTP {status}: "
                                 f"{redact(data.decode('utf-8', 'replace'))[:300]}")
        try:
            content = reply_text(json.loads(data))
        except (KeyError, IndexError, TypeError, ValueError) as err:
            shown = redact(data[:2000].decode("utf-8", "replace"))[:80]
            why = str(err) if isinstance(err, ValueError) and str(err).startswith("content") else "not a chat reply"
            raise TransientError("malformed", f"malformed reply ({why}): {shown!r}") from None
        return redact(content)  # an endpoint that echoes the request could put the key in the answer

    def _read_body(self, reply: requests.Response, deadline: float) -> bytes:
        """The reply body, read as it arrives until ``deadline`` and at most ``max_reply_bytes``."""
        chunks, size, limit = [], 0, self.spec.max_reply_bytes
        while True:
            if time.monotonic() > deadline:
                raise TransientError("timeout", f"reply not complete within {self.spec.request_timeout_s:g} s "
                                                f"({size} bytes received)")
            try:
                chunk = reply.raw.read1(READ_CHUNK, decode_content=True)
            except (OSError, urllib3.exceptions.HTTPError) as err:
                timed_out = isinstance(err, (TimeoutError, urllib3.exceptions.ReadTimeoutError))
                raise TransientError("timeout" if timed_out else "connection",
                                     f"reply broken off after {size} bytes ({type(err).__name__})") from None
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                raise ModelLoadError(f"model {self.spec.name!r}: {self.shown_url} sent a reply of more than "
                                     f"{limit} bytes (max_reply_bytes); raise max_reply_bytes if such replies "
                                     "are expected")
            chunks.append(chunk)


def _retry_after(reply: requests.Response) -> float | None:
    """Retry-After in seconds (a number, or an HTTP date); None when absent or unreadable."""
    value = reply.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def weights_check(item: str, spec: ModelSpec) -> Check:
    """Weights hook of the API family: no weights, but the key, which only the environment may hold."""
    if os.environ.get("OPENAI_API_KEY"):
        return Check(item, OK, f"OPENAI_API_KEY is set; endpoint {spec.base_url}")
    return Check(item, MISSING, "OPENAI_API_KEY is not set",
                 "export OPENAI_API_KEY in the environment that starts snakemake (never in a file)")
