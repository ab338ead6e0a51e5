"""The OpenAI-compatible family against a local server that misbehaves: 429, 500, slow and malformed replies."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time

import pandas as pd
import pytest

from mubench.benchmark.tables import Benchmark, load_image
from mubench.answering.generative import GenerationError
from mubench.answering.predict import predict_subset
from mubench.models import ModelLoadError, ModelSpec, load_model
from mubench.models.openai_api import image_data_url
from mubench.answering.prompting import build_prompt

from fake_http import EndpointHandler, serve

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


def test_persistent_failure_stops_the_job_and_a_rerun_asks_only_the_missing(tiny_benchmark, tmp_path):
    broken = FakeEndpoint(faults=[], always_failing={"F) None of the above"})
    try:
        spec = api_spec(broken.base_url, max_retries=2)
        with pytest.raises(GenerationError, match="12 questions got no response"):
            predict_subset(spec, tiny_benchmark, "cognition", cache_dir=tmp_path, batch_size=4, model=load_model(spec))
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
