"""Fault injection: what a user sees when things break. docs/reliability.md maps every fault to its test here.

Workflow faults run snakemake on the smallest config that shows them (one subset, a 34-image demo, Random + the
tiny open_clip + an OpenAI-compatible model served on 127.0.0.1), sharing a few runs through module fixtures:
``baseline`` (--cores 2, with the tiny merging demo), ``one_core`` (the same at --cores 1), ``killed`` (kill -9
mid-prediction, then --unlock and a rerun) and ``refusals`` (models that cannot answer). Faults best held at unit
level (cache chunks, image checks, writers) are tested on the library directly.
"""

from __future__ import annotations

import base64
import errno
import gc
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib
from contextlib import contextmanager, nullcontext
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mubench.answering.embedding_cache import EmbeddingCache
from mubench.answering.generative import ResponseCache
from mubench.answering.predict import predict_subset
from mubench.answering.prompting import PROTOCOLS, build_prompt
from mubench.benchmark.tables import (
    SCHEMAS,
    Benchmark,
    BenchmarkImageError,
    BenchmarkTableError,
    load_image,
    record_image_files,
    set_max_image_pixels,
    write_table,
)
from mubench.benchmark.ubench_convert import ImageDataError, png_bytes
from mubench.io import OutputWriteError, atomic_write
from mubench.logs import job, log_to
from mubench.models.openai_api import image_data_url
from mubench.models.spec import ModelSpec
from mubench.redaction import redact

from conftest import (DEMO_FIGURES, SNAKEMAKE, TINY_OPEN_CLIP, copy_workflow, make_tiny_benchmark, snakemake,
                      tiny_open_clip_spec)
from fake_http import EndpointHandler, reply_slowly, serve
from test_ubench import ROWS, SCHEMA, SHARD

FAKE_KEY = "sk-fault-injection-4f9c2b7e1a0d"
FAKE_HF_TOKEN = "hf_faultinjection9d8c7b6a5e4f"
SECRETS = (FAKE_KEY, FAKE_HF_TOKEN)


def encodings(header: str) -> dict[str, str]:
    """How an endpoint may echo an Authorization header value ("Bearer <key>") besides verbatim."""
    key = header.split(" ", 1)[-1]
    return {"header_base64": base64.b64encode(header.encode()).decode(),
            "line_base64": base64.b64encode(f"Authorization: {header}".encode()).decode(),
            "key_base64url": base64.urlsafe_b64encode(key.encode()).decode(),
            "key_hex": key.encode().hex(), "header_urlencoded": quote(header, safe="")}


# Every form a leaked secret could take in a file: verbatim and each encoding the endpoint echoes.
LEAK_FORMS = [form for secret in SECRETS for form in (secret, *encodings(f"Bearer {secret}").values())]
SEARCHED = ("logs", "results", "paper_figures", ".snakemake")  # where a leaked secret could land
TABLES = ("table1.csv", "table1.md", "table1.tex", "table1_breakdown.csv", "sensitivity.csv")
# What the runs build: the tables these faults touch, not every figure of the report.
TARGETS = ("paper_figures/demo/table1.csv", "paper_figures/demo/sensitivity.csv")
MERGING_TARGETS = TARGETS + ("paper_figures/demo/table19.csv",)
API_MODEL = "Echo-API"
OPEN_CLIP = "OpenCLIP-tiny-untrained"
MERGED = ("DemoCLIP", "DemoCLIP-path", "M-DemoCLIP-a0.5")


# ---------------------------------------------------------------------------------------------------------------
# An OpenAI-compatible endpoint that misbehaves and echoes the request's Authorization header in every error body.

ANSWER_KINDS = ("letter", "empty", "very_long", "unicode", "unparseable")
FIRST_ATTEMPT_FAULTS = ("429", "500", "malformed", "timeout", None)


def _digest(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)


def answer_kind(prompt: str, image_url: str) -> str:
    return ANSWER_KINDS[_digest(prompt + image_url) % len(ANSWER_KINDS)]


def scripted_answer(prompt: str, image_url: str) -> str:
    """The endpoint's answer to a prompt about an image: one of five shapes, chosen by both."""
    kind = answer_kind(prompt, image_url)
    first_option = next(line for line in prompt.splitlines() if line.startswith("A) "))
    return {
        "letter": first_option,
        "empty": "",
        "very_long": first_option + " because " + "the texture is granular; " * 8000,  # ≈200 kB
        "unicode": "Ответ: 🧫 — «peut-être» ñ 答案",
        "unparseable": "I cannot tell from this image.",
    }[kind]


class EchoEndpoint:
    """api_model ``answers``: every prompt's first attempt fails one way (429, 500, malformed JSON, timeout or not
    at all), then ``scripted_answer``. ``refuse-400`` / ``refuse-401``: always that status. Every error body
    quotes the Authorization header. ``hold_after(n)`` answers n prompts, then keeps further requests waiting."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}
        self.answered: list[str] = []  # prompt keys, in the order they were answered
        self.authorizations: set[str] = set()
        self.limit: int | None = None
        self.released = threading.Event()
        self.waiting = 0
        endpoint = self

        class Handler(EndpointHandler):
            def do_POST(self):
                body = self.read_json()
                auth = self.headers.get("Authorization", "")
                echo = json.dumps({"error": {"message": "rejected", "echo": encodings(auth),
                                             "request_headers": {"Authorization": auth}}})
                with endpoint.lock:
                    endpoint.authorizations.add(auth)
                if body["model"] == "refuse-400":
                    return self._send(400, echo)
                if body["model"] == "refuse-401":
                    return self._send(401, echo)
                if body["model"] == "trickle":  # a byte a second: every socket read succeeds, the reply never ends
                    return reply_slowly(self, 200, json.dumps({"choices": [{"message": {"content": "A"}}]}).encode())
                text, image = body["messages"][0]["content"]
                prompt = text["text"]
                key = hashlib.sha1((prompt + image["image_url"]["url"]).encode()).hexdigest()
                with endpoint.lock:
                    attempt = endpoint.attempts[key] = endpoint.attempts.get(key, 0) + 1
                    hold = endpoint.limit is not None and len(endpoint.answered) >= endpoint.limit
                    endpoint.waiting += hold
                if hold:  # the test kills the workflow while this request waits
                    endpoint.released.wait()
                    return self._send(503, echo)
                fault = FIRST_ATTEMPT_FAULTS[_digest(key) % len(FIRST_ATTEMPT_FAULTS)] if attempt == 1 else None
                if fault in ("429", "500"):
                    return self._send(int(fault), echo, {"Retry-After": "0"})
                if fault == "malformed":
                    return self._send(200, f"{encodings(auth)['header_base64']} Authorization: {auth} "
                                      + '{"choices": [{"message": ')
                if fault == "timeout":
                    time.sleep(1.0)  # the client gave up after request_timeout_s
                    return self._send(200, echo)
                with endpoint.lock:
                    endpoint.answered.append(key)
                answer = scripted_answer(prompt, image["image_url"]["url"])
                self._send(200, json.dumps({"choices": [{"message": {"content": answer}}]}))

            def _send(self, status, text, headers=None):
                self.send(status, text.encode(), headers)

        self.server, self.base_url = serve(Handler)

    def new_run(self) -> None:
        with self.lock:
            self.attempts.clear()
            self.answered.clear()
            self.waiting = 0

    def hold_after(self, n: int | None) -> None:
        self.limit = n
        if n is None:
            self.released.set()
        else:
            self.released.clear()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def endpoint():
    server = EchoEndpoint()
    yield server
    server.close()


# ---------------------------------------------------------------------------------------------------------------
# The smallest workflow that shows each fault.

def small_config(base_url: str, *, merging: bool = False, models: list[dict] | None = None) -> dict:
    """34 images, the fine subset, Random + the tiny open_clip + the echo endpoint; optionally the merging demo
    with two-step training."""
    config = {
        "benchmark": {"name": "demo", "source": "demo", "seed": 0,
                      "demo": {"patch_size": 96, "crops_per_source": 4, "synthetic_per_class": 3}},
        "subsets": ["fine"],
        "models": models or [
            {"name": "Random", "family": "random", "seed": 0},
            {"name": OPEN_CLIP, **TINY_OPEN_CLIP, "batch_size": 8},
            {"name": API_MODEL, "family": "openai_api", "api_model": "answers", "base_url": base_url,
             "concurrency": 2, "request_timeout_s": 0.5, "max_retries": 3, "retry_base_s": 0.01},
        ],
        "inference": {"batch_size": 8, "threads": 2},
        "bootstrap": {"n_resamples": 999, "seed": 0},
    }
    if merging:
        config["merging"] = {
            "alphas": [0.5], "subsets": ["fine"], "eval_splits": None,
            "slices": {"pathology": ["demo_histology_stain"], "he": ["demo_histology_stain"]},
            "train": {"architecture": "mubench-tinyclip-ViT", "seed": 0, "models": [
                {"name": "DemoCLIP", "steps": 2, "lr": 0.003, "batch_size": 8},
                {"name": "DemoCLIP-path", "init": "DemoCLIP", "datasets": ["demo_histology_stain"], "steps": 2,
                 "lr": 0.002, "batch_size": 8}]},
            "pairs": [{"name": "M-DemoCLIP", "base": "DemoCLIP", "tuned": "DemoCLIP-path"}],
        }
    return config


def job_env(hf_home: Path) -> dict:
    """Fake secrets in the environment (they must never surface), no hub, an empty HF cache."""
    return {**os.environ, "OPENAI_API_KEY": FAKE_KEY, "HF_TOKEN": FAKE_HF_TOKEN, "HF_HUB_OFFLINE": "1",
            "HF_HOME": str(hf_home)}


def workflow(tmp: Path, config: dict) -> Path:
    workdir = copy_workflow(tmp)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (workdir / "hf_home").mkdir()
    return workdir


def run(workdir: Path, *args: str, cores: int = 2, check: bool = True) -> subprocess.CompletedProcess:
    result = snakemake(workdir, *args, cores=cores, check=check, env=job_env(workdir / "hf_home"))
    (workdir / "logs").mkdir(exist_ok=True)
    with open(workdir / "logs" / "snakemake_console.txt", "a") as fh:  # grepped for secrets like every log
        fh.write(result.stdout + result.stderr)
    return result


def predictions(workdir: Path, model: str) -> Path:
    return workdir / "results" / "demo" / "predictions" / model / "fine.parquet"


def leaked_secrets(workdir: Path) -> list[str]:
    hits = []
    for folder in SEARCHED:
        for path in (workdir / folder).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                hits += [f"{path.relative_to(workdir)}: {s[:8]}…" for s in LEAK_FORMS if s.encode() in data]
    return hits


def endpoint_url(workdir: Path) -> str:
    """The chat-completions URL of the echo endpoint a run's config names."""
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    return next(m["base_url"] for m in config["models"] if m["family"] == "openai_api") + "/chat/completions"


def job_log(workdir: Path, model: str) -> str:
    return (workdir / "logs" / "predict" / "demo" / f"{model}.log").read_text()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, endpoint) -> Path:
    """One uninterrupted run at --cores 2, with the tiny merging demo."""
    endpoint.new_run()
    workdir = workflow(tmp_path_factory.mktemp("baseline"), small_config(endpoint.base_url, merging=True))
    run(workdir, *MERGING_TARGETS, cores=2)
    return workdir


@pytest.fixture(scope="module")
def one_core(tmp_path_factory, endpoint, baseline) -> Path:
    endpoint.new_run()
    workdir = workflow(tmp_path_factory.mktemp("one_core"), small_config(endpoint.base_url, merging=True))
    run(workdir, *MERGING_TARGETS, cores=1)
    return workdir


def alive_in_group(pgid: int) -> list[int]:
    """Processes of a process group that still run (zombies excluded)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


@pytest.fixture(scope="module")
def killed(tmp_path_factory, endpoint, baseline) -> dict:
    """kill -9 of the whole Snakemake process group while the API model's job waits on its 13th request; then
    --unlock and a plain rerun. Returns the workdir and the prompts answered before and after the kill."""
    endpoint.new_run()
    workdir = workflow(tmp_path_factory.mktemp("killed"), small_config(endpoint.base_url))
    responses = workdir / "results" / "demo" / "cache" / API_MODEL
    endpoint.hold_after(12)
    with open(workdir / "first_run.txt", "w") as out:
        proc = subprocess.Popen([str(SNAKEMAKE), "--cores", "2", *TARGETS], cwd=workdir,
                                env=job_env(workdir / "hf_home"), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 900  # a loaded machine may take minutes to reach the 13th request
        while not (endpoint.waiting and len(list(responses.rglob("*.json"))) >= 12):
            assert proc.poll() is None and time.monotonic() < deadline, (workdir / "first_run.txt").read_text()
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before_kill = list(endpoint.answered)
    endpoint.hold_after(None)
    time.sleep(0.5)
    survivors = alive_in_group(proc.pid)
    assert not predictions(workdir, API_MODEL).exists()
    run(workdir, "--unlock")
    endpoint.new_run()
    rerun = run(workdir, *TARGETS)
    return dict(workdir=workdir, before_kill=before_kill, after_kill=list(endpoint.answered), survivors=survivors,
                rerun=rerun.stdout + rerun.stderr)


@pytest.fixture(scope="module")
def refusals(tmp_path_factory, endpoint) -> tuple[Path, str]:
    """Models that cannot answer: HTTP 400 and 401 (bodies quoting the key), weights absent offline, and an
    endpoint that trickles its replies a byte a second."""
    models = [
        {"name": "API-400", "family": "openai_api", "api_model": "refuse-400", "base_url": endpoint.base_url,
         "max_retries": 0},
        {"name": "API-401", "family": "openai_api", "api_model": "refuse-401", "base_url": endpoint.base_url,
         "max_retries": 0},
        {"name": "CLIP", "family": "hf_clip", "model_id": "openai/clip-vit-base-patch32"},
        {"name": "API-trickle", "family": "openai_api", "api_model": "trickle", "base_url": endpoint.base_url,
         "request_timeout_s": 1, "max_retries": 0, "max_consecutive_failures": 1},
    ]
    workdir = workflow(tmp_path_factory.mktemp("refusals"), small_config(endpoint.base_url, models=models))
    result = run(workdir, "--keep-going", TARGETS[0], check=False)
    assert result.returncode != 0
    return workdir, result.stdout + result.stderr


@pytest.fixture(scope="module")
def damaged(tmp_path_factory, baseline) -> Path:
    """A copy of the baseline run (mtimes kept) for faults that damage files."""
    return Path(shutil.copytree(baseline, tmp_path_factory.mktemp("damaged") / "run", symlinks=True))


# ---------------------------------------------------------------------------------------------------------------
# Secrets and misbehaving endpoints

@pytest.mark.workflow
def test_api_faults_are_retried_and_counted(baseline):
    log = job_log(baseline, API_MODEL)
    for cause in ("http_429", "http_500", "malformed", "timeout"):
        assert f"'{cause}'" in log, cause
    assert predictions(baseline, API_MODEL).exists()


@pytest.mark.workflow
def test_refusals_name_the_model_and_what_to_do(refusals):
    workdir, console = refusals
    assert "answered HTTP 400" in job_log(workdir, "API-400")
    assert "refused the key in OPENAI_API_KEY (HTTP 401)" in job_log(workdir, "API-401")
    clip = job_log(workdir, "CLIP")
    assert "model 'CLIP': files of openai/clip-vit-base-patch32@main are not available" in clip
    assert "hf download openai/clip-vit-base-patch32" in clip
    trickle = job_log(workdir, "API-trickle")  # the job ends at the first deadline, naming model, URL, question
    assert f"model 'API-trickle': {endpoint_url(workdir)} gave no answer to 'Question:" in trickle
    assert "within 1 s" in trickle and "1 question in a row got no answer (max_consecutive_failures)" in trickle
    for model in ("API-400", "API-401", "CLIP", "API-trickle"):
        assert f"logs/predict/demo/{model}.log" in console  # Snakemake points at each failed job's log


@pytest.mark.workflow
def test_no_secret_reaches_any_log_or_output(endpoint, baseline, refusals, killed):
    assert endpoint.authorizations == {f"Bearer {FAKE_KEY}"}  # the key did travel, in the header only
    for workdir in (baseline, refusals[0], killed["workdir"]):
        assert leaked_secrets(workdir) == []
        assert "[REDACTED]" in (workdir / "logs" / "snakemake_console.txt").read_text() + "".join(
            p.read_text() for p in (workdir / "logs" / "predict").rglob("*.log"))
    for form in encodings("Bearer x"):  # every encoding was echoed into the log, and masked there
        assert re.search(rf'"{form}": "[^"]*\[REDACTED\][^"]*"', job_log(refusals[0], "API-400")), form


@pytest.mark.parametrize("form", ["verbatim", *encodings("Bearer x")])
def test_an_encoded_secret_is_redacted_whole(monkeypatch, form):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("HF_TOKEN", FAKE_HF_TOKEN)
    for secret in SECRETS:
        shown = secret if form == "verbatim" else encodings(f"Bearer {secret}")[form]
        for text in (shown, f'{{"echo": "{shown}"}}', f"x{shown}=="):
            assert shown not in redact(text) and "[REDACTED]" in redact(text), (form, text)
    # base64 of any text holding the key, wherever the key falls in it
    for prefix in ("", "a", "ab", '{"headers": {"authorization": "Bearer '):
        dump = base64.b64encode(f"{prefix}{FAKE_KEY}tail".encode()).decode()
        assert redact(f"echo {dump} end") == "echo [REDACTED] end"
    assert redact("ordinary text, aGVsbG8gd29ybGQ= and deadbeef stay") == "ordinary text, aGVsbG8gd29ybGQ= and " \
                                                                           "deadbeef stay"


def test_secrets_are_redacted_from_log_lines_tracebacks_and_stderr(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("HF_TOKEN", FAKE_HF_TOKEN)
    path = tmp_path / "job.log"
    with pytest.raises(RuntimeError) as raised:
        with log_to(path):
            logging.getLogger("mubench.test").warning("header %s", f"Authorization: Bearer {FAKE_KEY}")
            logging.getLogger("mubench.test").warning("echoed %s", encodings(f"Bearer {FAKE_KEY}"))
            print(f"token={FAKE_HF_TOKEN}", file=sys.stderr)
            raise ValueError(f"server said: Bearer other-secret-123 and {FAKE_KEY}")
    text = path.read_text()
    assert FAKE_KEY not in text and FAKE_HF_TOKEN not in text and "other-secret-123" not in text
    assert not [form for form in LEAK_FORMS if form in text]
    assert text.count("[REDACTED]") >= 9 and "job failed" in text
    assert FAKE_KEY not in str(raised.value) and "other-secret-123" not in str(raised.value)  # Snakemake prints it


def test_a_job_is_logged_then_its_objects_are_frozen_out_of_the_last_collections(tmp_path):
    """Every job script's frame: the log as log_to writes it, then gc.freeze (the process ends next), also when the
    job fails; the failure still reaches Snakemake."""
    try:
        for fails in (False, True):
            gc.unfreeze()
            with pytest.raises(ValueError, match="broken") if fails else nullcontext():
                with job(tmp_path / f"{fails}.log"):
                    logging.getLogger("mubench.test").warning("working")
                    if fails:
                        raise ValueError("broken")
            assert gc.get_freeze_count() > 0
            text = (tmp_path / f"{fails}.log").read_text()
            assert "working" in text and ("job failed" in text) == fails
    finally:
        gc.unfreeze()  # this test process goes on


# ---------------------------------------------------------------------------------------------------------------
# Model answers of every shape

@pytest.mark.workflow
def test_unparseable_empty_long_and_unicode_answers_are_kept_and_counted(baseline):
    table = pd.read_parquet(predictions(baseline, API_MODEL))
    bench = Benchmark(baseline / "results" / "demo" / "benchmark")
    questions, paths = bench.questions.set_index("question_id"), bench.image_paths()
    asked = [(build_prompt(questions.at[q, "question"], questions.at[q, "options"]),
              image_data_url(load_image(paths[questions.at[q, "image_id"]]))) for q in table["question_id"]]
    cap = ModelSpec.max_response_chars  # the 200 kB answers are cut to it, and counted
    expected = [scripted_answer(prompt, url)[:cap] for prompt, url in asked]
    assert table["response"].tolist() == expected  # verbatim otherwise: empty and non-ASCII answers included
    n_long = sum(answer_kind(prompt, url) == "very_long" for prompt, url in asked)
    assert f"model {API_MODEL}: {n_long} responses longer than max_response_chars ({cap}) were cut to it before it " \
           "was stored" in job_log(baseline, API_MODEL)
    assert {answer_kind(prompt, url) for prompt, url in asked} == set(ANSWER_KINDS)
    unparseable = [r == "" or r.startswith(("Ответ", "I cannot")) for r in expected]
    assert (table["parsed_code"] < 0).tolist() == unparseable
    assert table.loc[table["parsed_code"] >= 0, "parsed_code"].eq(0).all()  # "A) …" and the long answer
    sensitivity = pd.read_csv(baseline / DEMO_FIGURES / "sensitivity.csv")
    code = sensitivity[(sensitivity["model"] == API_MODEL) & (sensitivity["factor"] == "matching_rule")
                       & (sensitivity["variant"] == "code")].iloc[0]
    assert code["n_unparseable"] == sum(unparseable) and code["n"] == len(table)


# ---------------------------------------------------------------------------------------------------------------
# Interrupted runs and core counts

@pytest.mark.workflow
def test_kill_9_mid_prediction_resumes_only_the_unfinished_and_matches(killed, baseline):
    workdir = killed["workdir"]
    assert killed["survivors"] == []  # the jobs died with Snakemake
    assert len(killed["before_kill"]) == 12
    assert not set(killed["before_kill"]) & set(killed["after_kill"])  # nothing answered twice
    assert len(killed["before_kill"]) + len(killed["after_kill"]) == len(pd.read_parquet(predictions(workdir,
                                                                                                      API_MODEL)))
    assert "12 cached, 22 to ask" in job_log(workdir, API_MODEL)
    for name in TABLES:
        assert (workdir / DEMO_FIGURES / name).read_bytes() == (baseline / DEMO_FIGURES / name).read_bytes()
    for model in ("Random", OPEN_CLIP, API_MODEL):
        assert predictions(workdir, model).read_bytes() == predictions(baseline, model).read_bytes(), model


def _result_files(workdir: Path) -> dict[str, bytes]:
    paths = [p for p in (workdir / DEMO_FIGURES).glob("*") if p.suffix in (".csv", ".md")]
    paths += (workdir / "results" / "demo" / "predictions").rglob("*")  # and model.json
    paths += (workdir / "results" / "demo" / "merging").rglob("*.*")
    return {str(p.relative_to(workdir)): p.read_bytes() for p in paths if p.is_file()}


@pytest.mark.workflow
def test_cores_1_and_2_give_identical_tables_predictions_and_trained_models(baseline, one_core):
    two, one = _result_files(baseline), _result_files(one_core)
    assert sorted(two) == sorted(one)
    for model in MERGED:
        assert f"results/demo/predictions/{model}/fine.parquet" in two
    assert any(name.endswith(".safetensors") for name in two)
    assert [name for name in two if two[name] != one[name]] == []


# ---------------------------------------------------------------------------------------------------------------
# Damaged caches and images (library level, then through the workflow)

def test_truncated_embedding_chunk_is_set_aside_and_recomputed(tmp_path, caplog):
    cache = EmbeddingCache(tmp_path)
    cache.add(["a", "b"], np.eye(2))
    cache.add(["c"], np.ones((1, 2)))
    chunk = max(tmp_path.glob("*.npz"), key=lambda p: p.stat().st_size)
    chunk.write_bytes(chunk.read_bytes()[:50])
    reloaded = EmbeddingCache(tmp_path)
    assert sorted(reloaded.missing(["a", "b", "c"])) == ["a", "b"]
    assert reloaded.set_aside == [chunk.with_name(chunk.name + ".unreadable")]
    assert reloaded.set_aside[0].exists() and not chunk.exists()
    assert f"embedding cache chunk {chunk} is unreadable" in caplog.text and "BadZipFile" in caplog.text


@pytest.mark.parametrize("damage", [b'{"k": {"response": "A) x", "sco', b"\xff\xfe garbage", b"[1, 2]", b""])
def test_unreadable_response_chunk_is_set_aside_and_asked_again(tmp_path, caplog, damage):
    cache = ResponseCache(tmp_path)
    cache.add({"good": {"response": "B) y", "scores": None}})
    (tmp_path / "bad.json").write_bytes(damage)
    reloaded = ResponseCache(tmp_path)
    assert reloaded.answers == {"good": {"response": "B) y", "scores": None}}
    assert reloaded.set_aside == [tmp_path / "bad.json.unreadable"]
    assert f"response cache chunk {tmp_path / 'bad.json'} is unreadable" in caplog.text


def test_phash_cache_recomputes_a_truncated_chunk(tmp_path, caplog):
    from mubench.analyses.phash import HASH_VERSION, image_hashes

    bench = Benchmark(make_tiny_benchmark(tmp_path / "bench", n_images=3))
    images = bench.images
    paths, md5s = [bench.root / p for p in images["path"]], list(images["md5"])
    first = image_hashes(paths, md5s, tmp_path / "cache", workers=1)
    chunk = next((tmp_path / "cache" / HASH_VERSION).glob("*.npz"))
    chunk.write_bytes(chunk.read_bytes()[:30])
    assert (image_hashes(paths, md5s, tmp_path / "cache", workers=1) == first).all()
    assert "is unreadable" in caplog.text and chunk.with_name(chunk.name + ".unreadable").exists()


def test_unreadable_checksum_record_only_costs_a_rehash(tmp_path, caplog):
    from mubench.benchmark.ubench_acquire import verify_shards

    shard = tmp_path / SHARD
    shard.write_bytes(b"arrow bytes")
    expected = {SHARD: hashlib.sha256(b"arrow bytes").hexdigest()}
    record = tmp_path / "record.json"
    record.write_text('{"truncated')
    assert verify_shards({SHARD: shard}, expected, record)[SHARD]["sha256"] == expected[SHARD]
    assert "is unreadable" in caplog.text and json.loads(record.read_text())  # rewritten, readable


def _benchmark(tmp_path) -> Benchmark:
    root = make_tiny_benchmark(tmp_path / "bench", n_images=4)
    record_image_files(root)
    return Benchmark(root)


def test_image_check_names_a_truncated_deleted_or_replaced_file(tmp_path):
    bench = _benchmark(tmp_path)
    bench.verify_images()
    files = sorted((bench.root / "images").glob("*.png"))
    files[0].write_bytes(files[0].read_bytes()[:40])
    files[1].unlink()
    with pytest.raises(BenchmarkImageError, match="2 of 4") as err:
        bench.verify_images()
    assert f"{files[0]} has 40 bytes, the build wrote" in str(err.value)
    assert f"{files[1]} is missing" in str(err.value)


def test_same_size_replacement_is_caught_by_md5_and_full_check(tmp_path):
    bench = _benchmark(tmp_path)
    image = sorted((bench.root / "images").glob("*.png"))[2]
    stat = image.stat()
    data = bytearray(image.read_bytes())
    data[-20] ^= 0xFF
    image.write_bytes(bytes(data))
    with pytest.raises(BenchmarkImageError, match=f"{image} has md5 .* images.parquet records"):
        bench.verify_images()  # the mtime moved: checked by md5
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # size and mtime as built: only md5 can tell
    bench.verify_images()
    with pytest.raises(BenchmarkImageError, match=str(image)):
        bench.verify_images(full=True)


@pytest.mark.parametrize("cache", ["warm", "cold"])
def test_prediction_refuses_a_damaged_image_with_warm_or_cold_cache(tmp_path, cache):
    bench = _benchmark(tmp_path)
    spec = tiny_open_clip_spec()
    if cache == "warm":
        predict_subset(spec, bench.root, "fine", cache_dir=tmp_path / "cache", batch_size=4)
    image = sorted((bench.root / "images").glob("*.png"))[0]
    image.write_bytes(image.read_bytes()[:60])
    with pytest.raises(BenchmarkImageError, match=str(image)):
        predict_subset(spec, bench.root, "fine", cache_dir=tmp_path / "cache", batch_size=4)


@pytest.mark.workflow
def test_corrupt_cache_chunks_in_a_workflow_are_recomputed_to_the_same_bytes(damaged, baseline):
    chunk = sorted((damaged / "results" / "demo" / "cache" / OPEN_CLIP).rglob("images/*.npz"))[0]
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    answers = next((damaged / "results" / "demo" / "cache" / API_MODEL).rglob("responses/fine/*.json"))
    answers.write_bytes(answers.read_bytes()[:100])
    targets = [str(predictions(damaged, m).relative_to(damaged)) for m in (OPEN_CLIP, API_MODEL)]
    run(damaged, *targets, "--forcerun", "predict", "predict_cpu")  # the API model: predict_cpu
    assert "is unreadable" in job_log(damaged, OPEN_CLIP) and "moved to" in job_log(damaged, OPEN_CLIP)
    assert "1 unreadable chunk(s) set aside" in job_log(damaged, API_MODEL)
    for model in (OPEN_CLIP, API_MODEL):
        assert predictions(damaged, model).read_bytes() == predictions(baseline, model).read_bytes(), model


@contextmanager
def mounted(path: Path, *options: str):
    """``mount -t tmpfs`` (options) at ``path``, or skip where this test cannot mount (not root)."""
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); the patched-writer test holds this")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


@pytest.mark.workflow
def test_full_filesystem_names_the_output_and_the_space_left(damaged):
    folder = predictions(damaged, API_MODEL).parent
    with mounted(folder, "size=32k"):  # hides the baseline's file (54 kB with the long answers): it cannot fit
        result = run(damaged, str(predictions(damaged, API_MODEL).relative_to(damaged)), check=False)
        assert result.returncode != 0
        assert list(folder.iterdir()) == []  # no partial file
    text = job_log(damaged, API_MODEL)
    assert f"cannot write {predictions(damaged, API_MODEL).relative_to(damaged)}: the filesystem at {folder} is " \
           "full (0 B free of 32.8 kB, after " in text
    assert "[Errno 28]" in text


@pytest.mark.workflow
def test_read_only_output_folder_is_named(damaged):
    """Snakemake itself stops first (it clears an output's path before the job); its message names the file."""
    target = predictions(damaged, API_MODEL)
    with mounted(target.parent, "ro", "size=64k"):
        result = run(damaged, str(target.relative_to(damaged)), check=False)
    assert result.returncode != 0
    assert f"Read-only file system: '{target.relative_to(damaged)}'" in result.stdout + result.stderr


@pytest.mark.workflow
def test_damaged_image_stops_prediction_with_warm_and_cold_cache(damaged):
    images = sorted((damaged / "results" / "demo" / "benchmark" / "images").glob("*.png"))
    images[0].write_bytes(images[0].read_bytes()[:100])
    target = str(predictions(damaged, OPEN_CLIP).relative_to(damaged))
    warm = run(damaged, target, "--forcerun", "predict", check=False)
    assert warm.returncode != 0 and f"{images[0].relative_to(damaged)} has 100 bytes" in warm.stdout + warm.stderr
    shutil.rmtree(damaged / "results" / "demo" / "cache" / OPEN_CLIP)
    images[1].unlink()
    cold = run(damaged, target, "--forcerun", "predict", check=False)
    assert cold.returncode != 0
    assert f"{images[1].relative_to(damaged)} is missing" in job_log(damaged, OPEN_CLIP)


# ---------------------------------------------------------------------------------------------------------------
# Prepared tables that lie, paths that leave the benchmark, questions a prompt cannot hold, images that explode

@pytest.fixture
def pixel_limit():
    """Tests that open a benchmark set this process's pixel limit: Pillow's own is restored after each."""
    yield
    set_max_image_pixels(None)


def _rewrite(root: Path, name: str, change) -> None:
    """Change a prepared table behind the builder's back (pyarrow directly, as another tool or an editor would)."""
    table = change(pd.read_parquet(root / f"{name}.parquet"))
    pq.write_table(pa.Table.from_pandas(table, schema=SCHEMAS[name], preserve_index=False), root / f"{name}.parquet")


RANDOM = ModelSpec.from_config({"name": "Random", "family": "random", "seed": 0})


@pytest.mark.parametrize("escape", ["absolute", "dotdot", "symlink", "folder"])
def test_an_image_path_outside_the_benchmark_folder_is_refused_by_every_reader(tmp_path, escape, pixel_limit):
    bench = _benchmark(tmp_path)
    outside = tmp_path / "elsewhere" / "secret.png"  # the same bytes as img000: its recorded md5 would match
    outside.parent.mkdir()
    shutil.copy(bench.root / "images" / "img000.png", outside)
    path = {"absolute": str(outside), "dotdot": "images/../../elsewhere/secret.png", "symlink": "images/link.png",
            "folder": "images/."}[escape]
    if escape == "symlink":
        (bench.root / "images" / "link.png").symlink_to(outside)
    _rewrite(bench.root, "images", lambda t: t.assign(path=[path, *t["path"][1:]]))
    expected = f"image img000: path {path!r} resolves to"
    readers = {"image_index": bench.image_index, "verify_images": bench.verify_images,
               "predict": lambda: predict_subset(RANDOM, bench.root, "fine", cache_dir=tmp_path / "c", batch_size=4)}
    for name, read in readers.items():  # the leaderboard, pHash, probe and figures read through image_index too
        with pytest.raises(BenchmarkImageError) as err:
            read()
        assert expected in str(err.value) and "outside the benchmark's image folder" in str(err.value), name
        assert str(bench.root / "images.parquet") in str(err.value)
    with pytest.raises(BenchmarkImageError, match=re.escape(expected)):  # a builder cannot write one either
        write_table(pd.read_parquet(bench.root / "images.parquet"), "images", bench.root / "images.parquet")


@pytest.mark.parametrize("table, change, message", [
    ("questions", lambda t: t.assign(answer_idx=[7, *t["answer_idx"][1:]]),
     "question img000:modality: answer_idx 7 not in 0..3"),
    ("questions", lambda t: pd.concat([t, t.iloc[[5]]], ignore_index=True),
     "question_id 'img000:classification' occurs more than once"),
    ("questions", lambda t: t.assign(options=[[f"o{i}" for i in range(30)], *t["options"][1:]],
                                     captions=[[f"c{i}" for i in range(30)], *t["captions"][1:]]),
     "question img000:modality: 30 options, more than the mubench_letter prompt can address (26: letters A–Z)"),
    ("images", lambda t: pd.concat([t, t.iloc[[0]]], ignore_index=True), "image_id 'img000' occurs more than once"),
], ids=["answer-out-of-range", "duplicate-question", "too-many-options", "duplicate-image"])
def test_a_table_changed_after_the_build_is_refused_on_read_naming_the_row(tmp_path, table, change, message,
                                                                           pixel_limit):
    bench = _benchmark(tmp_path)
    _rewrite(bench.root, table, change)
    with pytest.raises(BenchmarkTableError) as err:
        predict_subset(RANDOM, bench.root, "coarse", cache_dir=tmp_path / "cache", batch_size=4)
    assert f"{bench.root / f'{table}.parquet'}: {message}" in str(err.value)
    assert "rebuild it (snakemake --forcerun build_benchmark)" in str(err.value)


def test_too_many_options_for_a_prompt_are_refused_at_build_and_before_asking(tmp_path):
    questions = pd.read_parquet(make_tiny_benchmark(tmp_path / "bench", n_images=2) / "questions.parquet")
    questions.at[0, "options"] = [f"o{i}" for i in range(30)]
    questions.at[0, "captions"] = []
    with pytest.raises(BenchmarkTableError, match="question img000:modality: 30 options, more than the "
                                                  "mubench_letter prompt can address"):
        write_table(questions, "questions", tmp_path / "q.parquet", protocol="mubench_letter")
    write_table(questions, "questions", tmp_path / "q.parquet")  # a contrastive-only table is no prompt's business
    for name, limit in (("mubench_letter", 26), ("microvqa_cot", 9)):  # a benchmark whose manifest names none
        PROTOCOLS[name].check_addressable("q1", limit)
        with pytest.raises(ValueError, match=f"question q1: {limit + 1} options, more than the {name} prompt"):
            PROTOCOLS[name].check_addressable("q1", limit + 1)


class QuotesFirstOption:
    """A generative model that answers every prompt with its first option line ("A) …"); keeps the prompts."""

    def __init__(self):
        self.prompts = []

    def generate(self, images, prompts, n_options):
        self.prompts += prompts
        for i, prompt in enumerate(prompts):
            yield i, next(line for line in prompt.splitlines() if line.startswith("A) ")), None


def test_line_breaks_and_injected_option_lines_are_counted_and_flattened_in_the_prompt(tmp_path, caplog,
                                                                                        pixel_limit):
    root = make_tiny_benchmark(tmp_path / "bench", n_images=4)
    questions = pd.read_parquet(root / "questions.parquet")
    fine = questions.index[questions["subset"] == "fine"]
    questions.loc[fine[0], "question"] = "Which shape?\nB) irregular\n(C) none"  # lines posing as options
    questions.at[fine[1], "options"] = ["round\ncell", "elongated", "irregular"]
    questions.loc[fine, "answer_idx"] = 0
    caplog.set_level(logging.WARNING)
    write_table(questions, "questions", root / "questions.parquet", protocol="mubench_letter")
    assert (f"{root / 'questions.parquet'}: 2 questions hold line breaks in their question or options (e.g. "
            "['img000:classification', 'img001:classification']), 1 of them a line that reads as an option (e.g. "
            "['img000:classification'])") in caplog.text
    spec = ModelSpec.from_config({"name": "stub", "family": "openai_api", "api_model": "x"})
    model = QuotesFirstOption()
    table = predict_subset(spec, root, "fine", cache_dir=tmp_path / "cache", batch_size=4, model=model)
    assert "model stub: 2 questions hold line breaks" in caplog.text
    for prompt in model.prompts:  # the instruction, the question, one line per option: nothing else reads as one
        assert len(prompt.splitlines()) == 2 + 3
    assert "\nQuestion:Which shape? B) irregular (C) none\n" in "".join(model.prompts)
    assert "\nA) round cell\nB) elongated" in "".join(model.prompts)
    assert table["correct"].all() and table["parsed_paper_text"].eq(0).all() and table["correct_paper_text"].all()


def _bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A 94-byte PNG that claims width × height pixels: Pillow refuses it on opening (DecompressionBombError)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4000))
            + chunk(b"IEND", b""))


def test_image_bombs_and_non_images_are_refused_when_stored_and_when_read(tmp_path, pixel_limit):
    good = (make_tiny_benchmark(tmp_path / "bench", n_images=1) / "images" / "img000.png").read_bytes()
    for data, message in [(_bomb_png(), "exceeds limit of 178956970 pixels"),  # Pillow's DecompressionBombError
                          (b"<html>not an image</html>", "not a readable image (UnidentifiedImageError"),
                          (good[:8] + b"junk" * 20, "not a readable image"),
                          (good[: len(good) // 2], "not a readable image (OSError: image file is truncated")]:
        with pytest.raises(ImageDataError, match=re.escape(message)):
            png_bytes(data)
    set_max_image_pixels(2000)  # benchmark.max_image_pixels
    with pytest.raises(ImageDataError, match=r"48×48 = 2304 pixels, more than benchmark.max_image_pixels \(2000\)"):
        png_bytes(good)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_bomb_png())
    for limit, message in [(None, r"exceeds limit of 178956970 pixels.*\(Pillow's own limit"),
                           (2000, r"exceeds limit of 4000 pixels.*twice benchmark.max_image_pixels = 2000")]:
        set_max_image_pixels(limit)
        with pytest.raises(BenchmarkImageError, match=f"benchmark image {bomb}: .*{message}"):
            load_image(bomb)


def test_a_benchmark_is_read_under_the_pixel_limit_it_was_built_with(tmp_path, pixel_limit):
    root = make_tiny_benchmark(tmp_path / "bench", n_images=1)
    manifest = json.loads((root / "manifest.json").read_text())
    (root / "manifest.json").write_text(json.dumps(manifest | {"max_image_pixels": 2000}))
    paths = Benchmark(root).image_paths()
    with pytest.raises(BenchmarkImageError, match=f"benchmark image {paths['img000']}: 48×48 = 2304 pixels, more "
                                                  r"than benchmark.max_image_pixels \(2000\)"):
        load_image(paths["img000"])


# ---------------------------------------------------------------------------------------------------------------
# Writers and sources

@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """A folder whose filesystem is full: a 64 KiB tmpfs where mounting works, else a writer patched to fail
    like one (ENOSPC)."""
    folder = tmp_path / "full"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                      capture_output=True).returncode == 0:
        yield folder, lambda tmp: Path(tmp).write_bytes(b"x" * 200_000)
        subprocess.run(["umount", str(folder)], check=True)
        return

    def no_space(tmp):
        Path(tmp).write_bytes(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device", tmp)

    yield folder, no_space


def test_disk_full_names_the_output_and_leaves_no_partial_file(full_disk):
    folder, write = full_disk
    with pytest.raises(OutputWriteError) as err:
        atomic_write(folder / "table.parquet", write)
    assert err.value.errno == errno.ENOSPC
    assert f"cannot write {folder / 'table.parquet'}: the filesystem at" in str(err.value)
    assert "B free of" in str(err.value)
    assert list(folder.iterdir()) == []


FILE_SIZE_LIMITED = """
import resource, sys
from pathlib import Path
import pandas as pd
from mubench.io import OutputWriteError, atomic_write
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, resource.RLIM_INFINITY))  # ulimit -f 64 (kB)
writers = {"raw.bin": lambda tmp: Path(tmp).write_bytes(b"x" * 200_000),
           "table.parquet": lambda tmp: pd.DataFrame({"a": [str(i) * 50 for i in range(20000)]}).to_parquet(tmp)}
for name, write in writers.items():
    try:
        atomic_write(Path(sys.argv[1]) / name, write)
    except OutputWriteError as err:
        print(err.errno, err)
"""


def test_a_file_size_limit_names_the_output_and_leaves_no_partial_file(tmp_path):
    """EFBIG (``ulimit -f``, or a filesystem's largest file), raised by Python's io and by pyarrow alike."""
    result = subprocess.run([sys.executable, "-c", FILE_SIZE_LIMITED, str(tmp_path)], capture_output=True, text=True)
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout + result.stderr
    for line, name in zip(lines, ("raw.bin", "table.parquet")):
        assert line.startswith(f"{errno.EFBIG} [Errno {errno.EFBIG}] cannot write {tmp_path / name}: the file "
                               "reached a size limit at 65.5 kB (EFBIG: the file-size limit of this process, "
                               "`ulimit -f` = 65.5 kB"), line
    assert list(tmp_path.iterdir()) == []


def test_read_only_folder_is_named(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    with mounted(folder, "ro", "size=64k"):
        with pytest.raises(OutputWriteError, match=f"cannot write {folder / 'out.json'}: the filesystem at "
                                                   f"{folder} is mounted read-only"):
            atomic_write(folder / "out.json", lambda tmp: None)


def test_unwritable_folder_is_named(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):  # what a non-root user meets in a folder of someone else's (root ignores modes)
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(OutputWriteError, match=f"no permission to create files in {tmp_path}"):
        atomic_write(tmp_path / "out.json", lambda tmp: None)


def _ubench_release(folder: Path) -> str:
    shard = folder / "perception" / "0.1.0" / SHARD
    shard.parent.mkdir(parents=True)
    with pa.OSFile(str(shard), "wb") as sink, pa.ipc.new_stream(sink, SCHEMA) as writer:
        writer.write_table(pa.Table.from_pylist(ROWS, schema=SCHEMA))
    return hashlib.sha256(shard.read_bytes()).hexdigest()


@pytest.mark.workflow
@pytest.mark.parametrize("fault", ["truncated", "wrong_sha256"])
def test_bad_ubench_shard_stops_the_build_naming_it(tmp_path, fault):
    sha256 = _ubench_release(tmp_path / "release")
    shard = tmp_path / "release" / "perception" / "0.1.0" / SHARD
    if fault == "truncated":
        shard.write_bytes(shard.read_bytes()[:-200])
    else:
        sha256 = "0" * 64
    config = small_config("http://127.0.0.1:9/v1", models=[{"name": "Random", "family": "random", "seed": 0}])
    config["benchmark"] = {"name": "ub", "source": "ubench", "seed": 0,
                           "ubench": {"path": str(tmp_path / "release"), "sha256": {SHARD: sha256}}}
    workdir = workflow(tmp_path / "run", config)
    result = run(workdir, "results/ub/benchmark/manifest.json", check=False)
    assert result.returncode != 0
    assert f"shard {SHARD} ({shard}" in (workdir / "logs" / "build_benchmark" / "ub.log").read_text()
    assert "truncated or not from the pinned revision" in result.stdout + result.stderr
