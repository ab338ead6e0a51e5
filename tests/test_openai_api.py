"""The OpenAI-compatible family against a local server that misbehaves: 429, 500, slow and malformed replies,
replies trickled a byte a second, huge Retry-After values, content as parts or a number, redirect loops and huge
replies."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time

import pandas as pd
import pytest
from PIL import Image

from mubench.benchmark.tables import Benchmark, load_image
from mubench.answering.generative import GenerationError
from mubench.answering.predict import predict_subset
from mubench.models import ModelLoadError, ModelSpec, load_model
from mubench.models.openai_api import image_data_url
from mubench.answering.prompting import build_prompt
from mubench.redaction import display_url

from fake_http import EndpointHandler, ScriptedEndpoint, chat_reply, reply, reply_slowly, serve

KEY = "sk-test-9f8e7d6c5b4a-SECRET"
# The first attempts of every request, in order; then it succeeds.
FAULTS = ["429", "500", "slow", "malformed"]


class FakeEndpoint:
    """Answers each request with its prompt's last option line plus a digest of its image, after scripted faults."""

    def __init__(self, faults=FAULTS, always_failing: set[str] = frozenset(), refused_images: set[str] = frozenset()):
        self.faults, self.always_failing, self.refused_images = faults, set(always_failing), set(refused_images)
        self.attempts: dict[str, int] = {}
        self.answered: list[str] = []
        self.lock = threading.Lock()
        endpoint = self

        class Handler(EndpointHandler):
            def do_POST(self):
                body = self.read_json()
                if self.headers.get("Authorization") != f"Bearer {KEY}" or self.path != "/v1/chat/completions":
                    return self.send(401, b'{"error": "bad key or path"}')
                text, image = body["messages"][0]["content"]
                assert image["image_url"]["detail"] == "high" and body["seed"] == 0 and body["temperature"] == 1.0
                reply = text["text"].splitlines()[-1] + "|" + hashlib.md5(image["image_url"]["url"].encode()).hexdigest()
                if reply.split("|")[1] in endpoint.refused_images:  # e.g. a content-policy rejection: no retry helps
                    return self.send(400, b'{"error": "image rejected"}')
                with endpoint.lock:
                    attempt = endpoint.attempts.get(reply, 0)
                    endpoint.attempts[reply] = attempt + 1
                fault = "500" if reply.split("|")[0] in endpoint.always_failing else (
                    endpoint.faults[attempt] if attempt < len(endpoint.faults) else None)
                if fault == "429":
                    return self.send(429, b'{"error": "rate"}', {"Retry-After": "0"})
                if fault == "500":
                    return self.send(500, b"oops")
                if fault == "malformed":
                    return self.send(200, b'{"choices": [{"message": ')
                if fault == "slow":  # the client has given up by the time this arrives: not an answer
                    time.sleep(0.6)
                    return self.send(200, json.dumps({"choices": [{"message": {"content": reply}}]}).encode())
                with endpoint.lock:
                    endpoint.answered.append(reply)
                self.send(200, json.dumps({"choices": [{"message": {"content": reply}}]}).encode())

        self.server, self.base_url = serve(Handler)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    server = FakeEndpoint()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def api_spec(base_url, **extra):
    entry = dict(name="GPT-4o", family="openai_api", api_model="gpt-4o-2024-05-13", base_url=base_url,
                 concurrency=3, request_timeout_s=0.3, max_retries=5, retry_base_s=0.01)
    return ModelSpec.from_config(entry | extra)


def expected_responses(bench_root, predictions):
    bench = Benchmark(bench_root)
    paths, questions = bench.image_paths(), bench.questions.set_index("question_id")
    out = []
    for row in predictions.itertuples():
        q = questions.loc[row.question_id]
        url = image_data_url(load_image(paths[row.image_id]))
        out.append(build_prompt(q.question, q.options).splitlines()[-1] + "|" + hashlib.md5(url.encode()).hexdigest())
    return out


class DiesAfter:
    def __init__(self, model, batches):
        self.model, self.left = model, batches

    def generate(self, images, prompts, n_options):
        if self.left == 0:
            raise KeyboardInterrupt("simulated kill")
        self.left -= 1
        return self.model.generate(images, prompts, n_options)


def test_faults_are_retried_and_a_killed_run_resumes_without_loss_or_repeats(endpoint, tiny_benchmark, tmp_path,
                                                                              caplog):
    caplog.set_level(logging.DEBUG)
    spec = api_spec(endpoint.base_url)
    model = load_model(spec)
    with pytest.raises(KeyboardInterrupt):
        predict_subset(spec, tiny_benchmark, "cognition", cache_dir=tmp_path, batch_size=4,
                       model=DiesAfter(model, 2))
    assert len(endpoint.answered) == 8
    table = predict_subset(spec, tiny_benchmark, "cognition", cache_dir=tmp_path, batch_size=4, model=model)

    assert table["response"].tolist() == expected_responses(tiny_benchmark, table)  # nothing lost or swapped
    assert sorted(endpoint.answered) == sorted(table["response"])  # each question answered exactly once
    assert set(endpoint.attempts.values()) == {len(FAULTS) + 1}
    assert {"http_429", "http_500", "timeout", "malformed"} <= set(model.failures)
    assert (table["prediction"] == 5).all()  # every reply quotes the last option, "F) None of the above"

    rerun = predict_subset(spec, tiny_benchmark, "cognition", cache_dir=tmp_path, batch_size=4, model=model)
    assert len(endpoint.answered) == 12  # a rerun costs nothing
    pd.testing.assert_frame_equal(rerun, table)

    cache_text = "".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert KEY not in caplog.text and KEY not in cache_text and KEY not in table.to_json()
    assert "malformed" in caplog.text  # failures are counted in the log


@pytest.mark.parametrize("consecutive", [3, 100])
def test_persistent_failure_stops_the_job_and_a_rerun_asks_only_the_missing(tiny_benchmark, tmp_path, consecutive):
    """Every question fails: after 3 in a row the endpoint is taken as down and the job stops at once; with a
    higher max_consecutive_failures every question is tried and the engine names the unanswered."""
    broken = FakeEndpoint(faults=[], always_failing={"F) None of the above"})
    try:
        spec = api_spec(broken.base_url, max_retries=2, max_consecutive_failures=consecutive)
        expected = (r"gave no answer to 'Question:How many nuclei are visible\?' after 3 attempts .* HTTP 500.* 3 "
                    r"questions in a row got no answer" if consecutive == 3 else "12 questions got no response")
        with pytest.raises(GenerationError if consecutive == 100 else ModelLoadError, match=expected):
            predict_subset(spec, tiny_benchmark, "cognition", cache_dir=tmp_path, batch_size=4, model=load_model(spec))
        asked = sum(broken.attempts.values())
        assert 9 <= asked <= 12 if consecutive == 3 else asked == 36  # down: no request after the first batch
    finally:
        broken.close()
    healthy = FakeEndpoint(faults=[])
    try:
        spec = api_spec(healthy.base_url, max_retries=2)
        table = predict_subset(spec, tiny_benchmark, "cognition", cache_dir=tmp_path, batch_size=4,
                               model=load_model(spec))
    finally:
        healthy.close()
    assert len(table) == 12 and len(healthy.answered) == 12


def test_refused_request_names_its_question_and_keeps_the_batch_answers(tiny_benchmark, tmp_path):
    bench = Benchmark(tiny_benchmark)
    refused = hashlib.md5(image_data_url(load_image(bench.image_paths()["img002"])).encode()).hexdigest()
    server = FakeEndpoint(faults=[], refused_images={refused})
    try:
        spec = api_spec(server.base_url)  # the same endpoint (base_url is part of the cache key)
        with pytest.raises(ModelLoadError, match=r"HTTP 400.*1 of 4 requests.*'Question:How many nuclei"):
            predict_subset(spec, tiny_benchmark, "cognition", cache_dir=tmp_path, batch_size=4, model=load_model(spec))
        assert len(server.answered) == 3
        server.refused_images.clear()
        predict_subset(spec, tiny_benchmark, "cognition", cache_dir=tmp_path, batch_size=4, model=load_model(spec))
    finally:
        server.close()
    assert len(server.answered) == 12  # the refused batch's three answers were cached, not asked again


def test_api_rejects_letter_logits_scoring(endpoint):
    with pytest.raises(ModelLoadError, match="only `scoring: generate`"):
        load_model(api_spec(endpoint.base_url, scoring="letter_logits"))


def test_key_comes_only_from_the_environment(monkeypatch, endpoint):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ModelLoadError, match="OPENAI_API_KEY"):
        load_model(api_spec(endpoint.base_url))


def test_refused_key_is_reported_without_quoting_it(monkeypatch, endpoint, tiny_benchmark, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-000")
    spec = api_spec(endpoint.base_url)
    with pytest.raises(ModelLoadError, match="refused the key in OPENAI_API_KEY") as err:
        predict_subset(spec, tiny_benchmark, "fine", cache_dir=tmp_path, batch_size=4, model=load_model(spec))
    assert "sk-wrong" not in str(err.value)


# ---------------------------------------------------------------------------------------------------------------
# Pathological endpoints: every one ends in bounded time with the model, the URL and the question named.

PROMPT = "Answer with a single letter, no extra details.\nQuestion:Which shape?\nA) round\nB) elongated"
BOUND_S = 10  # a test fails (instead of hanging) when one question takes longer than this


def ask_one(base_url, **settings):
    """One question put to ``base_url`` in a helper thread: (answers or error, the model, seconds taken). The
    request deadline is 10 s unless the test sets it: api_spec's 0.3 s expires on its own on a loaded machine."""
    model = load_model(api_spec(base_url, concurrency=1, **{"request_timeout_s": 10, **settings}))
    outcome = {}

    def run():
        try:
            outcome["answers"] = list(model.generate([[Image.new("RGB", (8, 8))]], [PROMPT], [2]))
        except Exception as err:  # noqa: BLE001 — the test inspects it
            outcome["error"] = err

    start = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND_S)
    assert not thread.is_alive(), f"one question still unanswered after {BOUND_S} s: nothing bounds the request"
    return outcome, model, time.monotonic() - start


@pytest.fixture
def scripted():
    servers = []

    def start(respond):
        servers.append(ScriptedEndpoint(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize("trickled", ["body", "headers"])
def test_a_reply_trickled_a_byte_a_second_is_cut_at_the_request_deadline(scripted, caplog, trickled):
    server = scripted(lambda handler, body: reply_slowly(handler, 200, chat_reply("A) round"),
                                                          head_too=trickled == "headers"))
    outcome, model, seconds = ask_one(server.base_url, request_timeout_s=1, max_retries=0)
    assert outcome == {"answers": []} and model.failures == {"timeout": 1}
    assert seconds < 3  # the 1 s deadline, not the ~90 s the trickle would take
    assert (f"model 'GPT-4o': {server.base_url}/chat/completions gave no answer to 'Question:Which shape?' after 1 "
            "attempt in 1.0 s:") in caplog.text
    assert "within 1 s" in caplog.text


def test_a_retry_after_beyond_the_cap_fails_the_question_at_once(scripted, caplog):
    server = scripted(lambda handler, body: reply(handler, 500, b"busy", {"Retry-After": "3600"}))
    outcome, model, seconds = ask_one(server.base_url)  # max_retry_wait_s: the default 60 s
    assert outcome == {"answers": []} and server.requests == 1 and seconds < 2
    assert ("HTTP 500 with Retry-After 3600 s, more than the cap of 60 s (max_retry_wait_s): not retrying sooner "
            "than the endpoint asks") in caplog.text
    assert "gave no answer to 'Question:Which shape?'" in caplog.text


def test_a_retry_after_within_the_cap_is_waited_as_asked(scripted, caplog):
    caplog.set_level(logging.INFO)
    server = scripted(lambda handler, body: reply(handler, 429, b"", {"Retry-After": "1"}) if server.requests == 1
                      else reply(handler, 200, chat_reply("B) elongated")))
    outcome, model, seconds = ask_one(server.base_url)
    assert outcome == {"answers": [(0, "B) elongated", None)]} and 1 <= seconds < 3
    assert "failed (HTTP 429); waiting 1 s as Retry-After asks" in caplog.text


def test_the_retry_budget_bounds_a_question(scripted, caplog):
    server = scripted(lambda handler, body: reply(handler, 503, b"down"))
    outcome, model, seconds = ask_one(server.base_url, max_retries=50, retry_base_s=0.4, retry_budget_s=2)
    assert outcome == {"answers": []} and seconds < 2.5
    assert server.requests == 3  # waits 0.4 and 0.8 s; the next (1.6 s) would pass the 2 s budget
    assert ("HTTP 503, and waiting 1.6 s more would exceed the question's retry budget of 2 s (retry_budget_s; "
            in caplog.text)


@pytest.mark.parametrize("content, answer", [
    ([{"type": "text", "text": "B) elongated"}, {"type": "text", "text": "because it is long"}],
     "B) elongated\nbecause it is long"),
    ([{"type": "output_text", "text": "A) round"}], "A) round"),
    (None, ""),
    (42, None),
    ([{"type": "image_url", "image_url": {"url": "data:,"}}], None),
    ({"text": "A"}, None),
])
def test_content_as_parts_is_read_and_any_other_shape_is_named(scripted, caplog, content, answer):
    server = scripted(lambda handler, body: reply(handler, 200, chat_reply(content)))
    outcome, model, _ = ask_one(server.base_url, max_retries=1)
    if answer is not None:
        assert outcome == {"answers": [(0, answer, None)]}
        return
    assert outcome == {"answers": []} and model.failures == {"malformed": 2}
    assert f"{server.base_url}/chat/completions gave no answer to 'Question:Which shape?'" in caplog.text
    assert "malformed reply (content is a " in caplog.text


def test_a_redirect_loop_names_the_model_and_the_url(scripted):
    server = scripted(lambda handler, body: reply(handler, 307, b"", {"Location": "/v1/chat/completions"}))
    outcome, _, _ = ask_one(server.base_url)
    assert isinstance(outcome["error"], ModelLoadError)
    assert (f"model 'GPT-4o': {server.base_url}/chat/completions redirects in a loop (more than 30 redirects); "
            "check base_url") in str(outcome["error"])
    assert "'Question:Which shape?'" in str(outcome["error"])


def test_a_reply_above_max_reply_bytes_is_refused_naming_the_limit(scripted):
    server = scripted(lambda handler, body: reply(handler, 200, chat_reply("A" * 3_000_000)))
    outcome, _, seconds = ask_one(server.base_url, max_reply_bytes=1 << 20)
    assert "sent a reply of more than 1048576 bytes (max_reply_bytes)" in str(outcome["error"])


def test_huge_replies_are_cut_to_max_response_chars_and_counted(scripted, tiny_benchmark, tmp_path, caplog):
    server = scripted(lambda handler, body: reply(handler, 200, chat_reply("A) round " + "x" * 2_000_000)))
    spec = api_spec(server.base_url, max_response_chars=1000, request_timeout_s=10)
    table = predict_subset(spec, tiny_benchmark, "fine", cache_dir=tmp_path, batch_size=4, model=load_model(spec))
    assert table["response"].str.len().eq(1000).all() and table["parsed_code"].eq(0).all()
    assert sum(p.stat().st_size for p in tmp_path.rglob("*.json")) < 50_000  # not 24 MB
    assert "12 responses longer than max_response_chars (1000) were cut to it before it was stored" in caplog.text
    shorter = api_spec(server.base_url, max_response_chars=100, request_timeout_s=10)  # cuts the cached ones too
    table = predict_subset(shorter, tiny_benchmark, "fine", cache_dir=tmp_path, batch_size=4,
                           model=load_model(shorter))
    assert table["response"].str.len().eq(100).all() and server.requests == 12
    assert "12 responses longer than max_response_chars (100) were cut to it in the prediction table" in caplog.text


def test_a_url_is_shown_without_credentials():
    assert display_url("https://user:pw@api.example.org:8443/v1/chat?api-key=s3cret&x=1") == \
        "https://api.example.org:8443/v1/chat?api-key=…&x=…"
