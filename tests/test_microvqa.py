"""The microvqa and microvqapp sources on tiny releases written in each release's own parquet layout."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mubench.answering.generative import answer_key, matching_sensitivity
from mubench.answering.predict import predict_subset
from mubench.answering.prompting import RULES, build_microvqa_prompt, match_microvqa, microvqa_bad_response
from mubench.benchmark.mcq_checks import MCQError, option_labels
from mubench.benchmark.microvqa import availability, build_microvqa, build_microvqapp
from mubench.benchmark.microvqa_release import ReleaseError
from mubench.benchmark.tables import Benchmark, load_image, set_max_image_pixels
from mubench.benchmark.sources import source_of, workflow_subsets
from mubench.config import ConfigError, check_config
from mubench.figures.published import for_benchmark, protocol_notes, skip_notes
from mubench.figures.table1 import read_reference
from mubench.io import sha256_file
from mubench.models import ModelSpec

from conftest import REPO, copy_workflow, load_bindings, snakemake
from tex import compile_problems, pdflatex  # noqa: F401 (fixture)
from microvqa_fixtures import (
    MICROVQA_SCHEMA,
    MICROVQAPP_SCHEMA,
    microvqa_rows,
    microvqapp_rows,
    write_release,
)


@pytest.fixture
def microvqa_release(tmp_path):
    return write_release(tmp_path / "microvqa", microvqa_rows(), MICROVQA_SCHEMA, shards=2)


def test_microvqa_release_row_by_row(tmp_path, microvqa_release):
    manifest = build_microvqa(tmp_path / "out" / "bench", seed=0, path=str(microvqa_release), workers=2)
    bench = Benchmark(tmp_path / "out" / "bench")
    questions, images = bench.questions.set_index("question_id"), bench.images.set_index("image_id")
    rows = {f"microvqa_{r['key_question']}": r for r in microvqa_rows()}
    assert list(questions.index) == list(rows)
    for question_id, row in rows.items():
        q = questions.loc[question_id]
        assert q.options.tolist() == row["choices"] and q.answer_idx == row["correct_index"]
        assert q.subset == "cognition" and q.dataset == "microvqa" and q.captions.tolist() == []
        assert q.question_type == ["expert_visual_understanding", "hypothesis_generation",
                                   "experiment_proposal"][row["task"] - 1]
        ids = [q.image_id, *q.extra_image_ids]
        assert len(ids) == len(row["images_list"])
        for image_id, released in zip(ids, row["images_list"]):  # every image kept, in order, content-addressed
            assert image_id == "microvqa_" + hashlib.md5(released["bytes"]).hexdigest()[:16]
            stored = bench.root / images.loc[image_id, "path"]
            assert hashlib.md5(stored.read_bytes()).hexdigest() == images.loc[image_id, "md5"]
            assert load_image(stored).size == (24, 20)
    assert questions.loc["microvqa_3", "image_id"] == questions.loc["microvqa_4", "image_id"]  # shared image, once
    assert len(images) == 6 and set(images["license"]) == {"CC-BY-SA-4.0"}
    assert manifest["multi_image_questions"] == 1
    assert manifest["counts"]["images_per_question"] == {"1": 4, "3": 1}
    assert manifest["release"]["convention"] == "0-based" and manifest["release"]["rows_checked_against_text"] == 0
    assert manifest["protocol"] == "microvqa_cot" and manifest["inputs_verified"] is False
    shards = sorted((microvqa_release / "data").glob("*.parquet"))
    assert {n: v["sha256"] for n, v in manifest["inputs"].items()} == {p.name: sha256_file(p) for p in shards}


@pytest.mark.parametrize("labels, style", [("letters", "A) "), ("numbers", "(1) "), (None, "none")])
def test_microvqapp_one_based_labelled_release_is_detected_and_stripped(tmp_path, labels, style):
    release = write_release(tmp_path / "pp", microvqapp_rows(one_based=True, labels=labels), MICROVQAPP_SCHEMA,
                            split="test", under_data=False)
    manifest = build_microvqapp(tmp_path / "bench", seed=0, path=str(release))
    questions = Benchmark(tmp_path / "bench").questions
    expected = microvqapp_rows()
    assert [q.options[q.answer_idx] for q in questions.itertuples()] == [r["correct_answer"] for r in expected]
    assert [list(q.options) for q in questions.itertuples()] == [[f"finding {i}-{j}" for j in range(4)]
                                                                 for i in range(4)]
    assert list(questions.question_type) == ["expert_visual_understanding", "hypothesis_generation",
                                             "experiment_proposal", "hypothesis_generation"]
    assert list(questions.question_id) == [f"microvqapp_test_{i:06d}" for i in range(4)]
    release_report = manifest["release"]
    assert release_report["convention"] == "1-based" and release_report["rows_checked_against_text"] == 4
    assert release_report["option_labels"] == {style: 4} and release_report["answer_text_column"] == "correct_answer"
    assert set(Benchmark(tmp_path / "bench").images["license"]) == {"commercial"}


def test_inconsistent_row_stops_the_build_naming_it(tmp_path):
    rows = microvqapp_rows()
    rows[2]["correct_index"] = 3  # its answer text is option 1: no numbering points there
    release = write_release(tmp_path / "pp", rows, MICROVQAPP_SCHEMA)
    with pytest.raises(MCQError, match=r"train row 2 .*microvqapp_train_000002.*does not point at the answer text "
                                       r"'finding 2-1'.*it is option 1"):
        build_microvqapp(tmp_path / "bench", seed=0, path=str(release))
    assert not (tmp_path / "bench" / "images").exists()  # checked before any image is written


def test_a_row_numbered_unlike_the_rest_is_named(tmp_path):
    rows = microvqapp_rows()
    rows[1]["correct_index"] += 1  # this row alone is 1-based
    release = write_release(tmp_path / "pp", rows, MICROVQAPP_SCHEMA)
    with pytest.raises(MCQError, match=r"row 1 .*only consistent with 1-based numbering \(by its answer text\) while "
                                       r"the release's other rows are 0-based"):
        build_microvqapp(tmp_path / "bench", seed=0, path=str(release))


@pytest.mark.parametrize("change, message", [
    (dict(correct_index=6), r"row 0 .*index 6 fits no numbering of its 5 options"),
    (dict(task=2), r"row 0 .*task 2 is hypothesis_generation but task_str says 'expert_visual_understanding'"),
    (dict(task=4), r"row 0 .*task = 4, expected 1, 2 or 3"),
    (dict(images_list=[]), r"row 0 .*has no image"),
    (dict(key_question=2), r"row 1 .*question id also used by row 0"),
])
def test_microvqa_row_errors_name_the_row(tmp_path, change, message):
    rows = microvqa_rows()
    rows[0].update(change)
    release = write_release(tmp_path / "rel", rows, MICROVQA_SCHEMA)
    with pytest.raises(MCQError, match=message):
        build_microvqa(tmp_path / "bench", seed=0, path=str(release))


def test_repeated_options_and_a_missing_task_label_are_tolerated_and_reported(tmp_path):
    rows = microvqa_rows()
    rows[0]["choices"] = ["same", "same", "other"]
    table = pa.Table.from_pylist(rows, schema=MICROVQA_SCHEMA).drop_columns(["task_str"])
    (tmp_path / "rel").mkdir()
    pq.write_table(table, tmp_path / "rel" / "train-00000-of-00001.parquet")
    manifest = build_microvqa(tmp_path / "bench", seed=0, path=str(tmp_path / "rel"))
    assert manifest["release"]["questions_with_repeated_options"] == ["microvqa_1"]
    assert manifest["release"]["tasks"]["None -> hypothesis_generation"] == 2


def test_unknown_task_label_is_refused_until_mapped(tmp_path):
    rows = microvqapp_rows()
    rows[3]["task_str"] = "Mechanism"
    release = write_release(tmp_path / "pp", rows, MICROVQAPP_SCHEMA)
    with pytest.raises(MCQError, match=r"row 3 .*task 'Mechanism' is not one of .*task_names"):
        build_microvqapp(tmp_path / "a", seed=0, path=str(release))
    manifest = build_microvqapp(tmp_path / "b", seed=0, path=str(release),
                                task_names={"Mechanism": "hypothesis_generation"})
    assert manifest["release"]["tasks"]["Mechanism -> hypothesis_generation"] == 1


def test_option_labels_need_every_option_labelled_in_order():
    assert option_labels(["A) x", "B) y"]) == ("A) ", ["x", "y"])
    assert option_labels(["(1): x", "(2): y"]) == ("(1): ", ["x", "y"])
    assert option_labels(["(1) x is known", "y"]) == (None, ["(1) x is known", "y"])
    assert option_labels(["B) x", "A) y"]) == (None, ["B) x", "A) y"])
    assert option_labels(["1", "2", "3"]) == (None, ["1", "2", "3"])


def test_shards_are_verified_when_hashes_are_given(tmp_path, microvqa_release):
    shards = {p.name: sha256_file(p) for p in (microvqa_release / "data").glob("*.parquet")}
    manifest = build_microvqa(tmp_path / "a", seed=0, path=str(microvqa_release), sha256=shards)
    assert manifest["inputs_verified"] is True
    wrong = dict(shards, **{"train-00001-of-00002.parquet": "0" * 64})
    with pytest.raises(ReleaseError, match=r"shard train-00001-of-00002.parquet .* expected 0{64}"):
        build_microvqa(tmp_path / "b", seed=0, path=str(microvqa_release), sha256=wrong)
    with pytest.raises(ReleaseError, match=r"names no hash for \['train-00000-of-00002.parquet'\]"):
        build_microvqa(tmp_path / "c", seed=0, path=str(microvqa_release),
                       sha256={"train-00001-of-00002.parquet": shards["train-00001-of-00002.parquet"]})


def test_split_choice_and_missing_shards(tmp_path, microvqa_release):
    write_release(microvqa_release, microvqa_rows()[:2], MICROVQA_SCHEMA, split="test")
    with pytest.raises(ReleaseError, match=r"holds the splits \['test', 'train'\]: set benchmark.microvqa.split"):
        build_microvqa(tmp_path / "a", seed=0, path=str(microvqa_release))
    assert build_microvqa(tmp_path / "b", seed=0, path=str(microvqa_release), split="test")["split"] == "test"
    (microvqa_release / "data" / "train-00001-of-00002.parquet").unlink()
    with pytest.raises(ReleaseError, match=r"train shards \['train-00001-of-00002.parquet'\] are missing"):
        build_microvqa(tmp_path / "c", seed=0, path=str(microvqa_release), split="train")


def test_hub_cache_needs_a_revision_and_is_read_offline(tmp_path, microvqa_release, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(ReleaseError, match=r"set `path` .* or `repo_id` and `revision` .*pins none"):
        build_microvqa(tmp_path / "a", seed=0)
    revision = "c" * 40
    with pytest.raises(ReleaseError, match=rf"jmhb/microvqa@{revision} is not in the Hugging Face cache; set "
                                           r"benchmark.microvqa.path"):
        build_microvqa(tmp_path / "a", seed=0, revision=revision)
    snapshot = tmp_path / "hf" / "hub" / "datasets--jmhb--microvqa" / "snapshots" / revision / "data"
    snapshot.mkdir(parents=True)
    for shard in (microvqa_release / "data").glob("*.parquet"):
        (snapshot / shard.name).write_bytes(shard.read_bytes())
    manifest = build_microvqa(tmp_path / "b", seed=0, revision=revision)
    assert manifest["revision"] == revision and manifest["repo_id"] == "jmhb/microvqa"


def test_preflight_finds_and_checks_the_release_without_downloading(tmp_path, microvqa_release, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # even online, preflight only looks in the cache
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    results_dir = tmp_path / "results"  # the results folder: the build keeps its record of shard hashes there
    shards = {p.name: sha256_file(p) for p in (microvqa_release / "data").glob("*.parquet")}
    [ok] = availability("microvqa", dict(path=str(microvqa_release), sha256=shards), results_dir)
    assert ok.passed and "2 train shards" in ok.detail and "SHA-256 verified" in ok.detail
    [bad] = availability("microvqa", dict(path=str(microvqa_release), sha256=dict(shards, **{
        "train-00000-of-00002.parquet": "1" * 64})), results_dir)
    assert bad.status == "ERROR" and "train-00000-of-00002.parquet" in bad.detail
    [missing] = availability("microvqa", dict(revision="d" * 40), results_dir)
    assert missing.status == "MISSING" and "not in the Hugging Face cache" in missing.detail
    assert not (tmp_path / "hf" / "hub" / "datasets--jmhb--microvqa").exists()


def test_cognition_only_sources_and_no_probe():
    assert workflow_subsets({"source": "microvqa"}, ["coarse", "fine", "cognition"]) == ["cognition"]
    with pytest.raises(ValueError, match="only the cognition subset"):
        workflow_subsets({"source": "microvqapp"}, ["coarse"])
    config = dict(benchmark=dict(source="microvqa"), probe=dict(features={}), models=[])
    with pytest.raises(ConfigError, match="probe: the linear probe learns per-image class labels"):
        check_config(config)
    config = dict(benchmark=dict(source="microvqapp"), detection=dict(models=["Threshold-CC"]), models=[])
    with pytest.raises(ConfigError, match="detection: Table 18 scores boxes against ground-truth boxes"):
        check_config(config)


@pytest.mark.workflow
@pytest.mark.parametrize("configfile", ["configs/microvqa.yaml", "configs/microvqapp.yaml"])
def test_shipped_configs_plan_a_note_for_each_artefact_a_reasoning_benchmark_lacks(configfile, tmp_path):
    """The report says why Tables 3–20 (but 14), Figs. 4–14, the probe, merging and detection are absent, and
    reproduction.md names each missing table with its reason, instead of files silently missing."""
    workdir = copy_workflow(tmp_path)  # the API works in the Snakefile's folder: never the checkout
    source = Path(configfile).stem
    site = workdir / "site.yaml"  # what a user adds: where the release is
    site.write_text(yaml.safe_dump({"benchmark": {source: {"path": str(tmp_path / "release")}}}))
    jobs = load_bindings().planned_jobs(workdir / "Snakefile", [workdir / configfile, site])
    notes = {job.wildcards_dict["absent"]: job.params.reason for job in jobs if job.rule.name == "absent_artefact"}
    assert set(notes) == {"perception", "table13_fig8_linear_probe", "table18_grit", "table19_fig5_merging"}
    assert "config `probe` is null" in notes["table13_fig8_linear_probe"]
    [reproduction] = [job for job in jobs if job.rule.name == "reproduction"]
    absent = reproduction.params.absent
    assert absent["table18_grit.csv"] == "not produced: no detection models configured (config `detection.models`)"
    assert {"table13_linear_probe.csv", "table19.csv", "table20_pathology.csv", "table3_perception_summary.csv"} \
        <= set(absent)
    planned = {job.rule.name for job in jobs}
    assert {"table14", "leaderboard", "significance", "sensitivity"} <= planned and "detect" not in planned


@pytest.mark.parametrize("response, parsed", [
    ("Let me think. The answer is (3)", 2),
    ("The answer is 3.", 2),
    ("The answer is **(2)**", 1),  # bold, as GPT-4o and Grok wrote it (the authors' note)
    ("**The answer is (4)**", 3),
    ("the answer is *(5)*", 4),
    ("First the answer is (1), but on reflection the answer is (3).", 0),  # the first "answer is" counts
    ("The answer is (12)", 0),  # one digit only, as in the authors' regex
    ("The answer is (6)", -1),  # names no option of five
    ("The answer is (0)", -1),
    ("The Answer is (2)", -1),  # case-sensitive
    ("The answer is: (2)", -1),
    ("I would pick option (2).", -1),
    ("", -1),
])
def test_microvqa_parser_on_tricky_responses(response, parsed):
    match = match_microvqa(response, [f"o{i}" for i in range(5)], 2)
    assert match.parsed_idx == parsed and match.correct == (parsed == 2)


# The authors' scorer (eval/eval.py of github.com/jmhb0/microvqa), verbatim: ours must read every response as it does.
AUTHORS_REGEX = re.compile(r"answer is \*?\*?\(?([0-9])\)?\*?\*?")


@pytest.mark.parametrize("n_options", range(2, 10))
def test_microvqa_parser_matches_the_authors_regex_for_every_valid_option_count(n_options):
    """Releases with up to nine options (all of MicroVQA's) are read exactly as the authors read them — "(30)"
    included, which both read as option 3; more options are refused at build (next test)."""
    responses = ["The answer is (30)", "answer is **7**", "answer is (9)", "answer is *(1", "answer is ** (2)",
                 "answer is 10", "x answer is (0) then answer is (2)", "answer is(3)", "answer is (4)**", "answer"]
    for response in responses:
        found = AUTHORS_REGEX.search(response)
        number = int(found.group(1)) - 1 if found else -1
        expected = number if 0 <= number < n_options else -1
        assert match_microvqa(response, [f"o{i}" for i in range(n_options)], 0).parsed_idx == expected, response


def authors_bad_responses(responses) -> int:
    """calculate_metrics of the authors' eval/eval.py: predictions (digit − 1, or −1) outside range(5) are bad."""
    preds = [int(found.group(1)) - 1 if (found := AUTHORS_REGEX.search(r)) else -1 for r in responses]
    return sum(pred not in set(range(5)) for pred in preds)


def test_bad_responses_are_counted_as_the_authors_scorer_counts_them_beside_ours():
    responses = ["The answer is (6)", "The answer is (3)", "answer is **(9)**", "no answer", "The answer is (0)",
                 "answer is 5", "The answer is (6)"]
    assert [microvqa_bad_response(r) for r in responses] == [authors_bad_responses([r]) == 1 for r in responses]
    n_options, answers = [6, 5, 9, 5, 5, 5, 5], [5, 2, 0, 0, 0, 4, 1]  # the first question's answer is its option 6
    rows = []
    for i, (response, n, answer) in enumerate(zip(responses, n_options, answers)):
        match = match_microvqa(response, [f"o{j}" for j in range(n)], answer)
        rows.append(dict(model="vlm", subset="cognition", question_id=f"q{i}", response=response,
                         parsed_microvqa=match.parsed_idx, correct_microvqa=match.correct,
                         **{f"{kind}_{rule}": None for kind in ("parsed", "correct") for rule in RULES
                            if rule != "microvqa"}))
    [row] = matching_sensitivity(pd.DataFrame(rows)).to_dict("records")
    assert row["n_unparseable"] == 3  # no answer, (0), and (6) on the five-option question; (9) names option 9
    assert row["n_bad_microvqa_scorer"] == authors_bad_responses(responses) == 5  # (6) twice, (9), no answer, (0)
    assert row["n_correct"] == 3  # (6) on the six-option question, (3), 5: the same under the authors' reading


@pytest.mark.parametrize("n_options, protocol, message", [
    (10, "microvqa_cot", r"row 0 .*question microvqa_1\): 10 options, more than the microvqa_cot protocol can "
                         r"address \(9: its answer regex reads a single digit, 1–9\); leave the row out of the "
                         r"release, or set protocol: mubench_letter"),
    (30, "microvqa_cot", r"row 0 .*: 30 options, more than the microvqa_cot protocol can address \(9: .*release$"),
    (30, "mubench_letter", r"row 0 .*: 30 options, more than the mubench_letter protocol can address \(26: letters"),
])
def test_more_options_than_the_protocol_can_name_stop_the_build_naming_the_row(tmp_path, n_options, protocol,
                                                                               message):
    rows = microvqa_rows()
    rows[0]["choices"] = [f"option {i}" for i in range(n_options)]
    release = write_release(tmp_path / "rel", rows, MICROVQA_SCHEMA)
    with pytest.raises(MCQError, match=message):
        build_microvqa(tmp_path / "bench", seed=0, path=str(release), protocol=protocol)
    with pytest.raises(ValueError, match="MicroVQA's answer regex reads one digit"):
        match_microvqa("The answer is (30)", [f"o{i}" for i in range(30)], 2)  # never read as option 3


def test_ten_options_build_under_the_letter_protocol(tmp_path):
    rows = microvqa_rows()
    rows[0]["choices"] = [f"option {i}" for i in range(10)]
    build_microvqa(tmp_path / "bench", seed=0, path=str(write_release(tmp_path / "rel", rows, MICROVQA_SCHEMA)),
                   protocol="mubench_letter")
    assert len(Benchmark(tmp_path / "bench").questions.set_index("question_id").at["microvqa_1", "options"]) == 10


def _bomb_png() -> bytes:
    """A PNG header claiming 30000 × 30000 pixels (Pillow refuses it on opening: DecompressionBombError)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = (30000).to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4000)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("bad, message", [
    (lambda png: b"%PDF-1.4 not an image", r"not a readable image \(UnidentifiedImageError"),
    (lambda png: png[:8] + b"junk" * 20, r"not a readable image"),  # a PNG signature alone was stored verbatim
    (lambda png: png[: len(png) // 2], r"not a readable image \(OSError: image file is truncated"),
    (lambda png: _bomb_png(), r"Image size \(900000000 pixels\) exceeds limit of 178956970 pixels"),  # a bomb
], ids=["not-an-image", "png-signature-then-junk", "truncated-png", "decompression-bomb"])
def test_an_undecodable_or_exploding_image_stops_the_build_naming_the_row(tmp_path, bad, message):
    rows = microvqa_rows()
    images = rows[1]["images_list"]
    images[2] = dict(images[2], bytes=bad(images[2]["bytes"]))  # the third image of the second question
    release = write_release(tmp_path / "rel", rows, MICROVQA_SCHEMA)
    with pytest.raises(MCQError, match=r"microvqa train row 1 \(train-00000-of-00001.parquet, question microvqa_2\), "
                                       r"image 3 of images_list: " + message):
        build_microvqa(tmp_path / "bench", seed=0, path=str(release), workers=2)


def test_the_pixel_limit_is_a_setting_recorded_in_the_manifest(tmp_path, microvqa_release):
    try:
        set_max_image_pixels(400)  # benchmark.max_image_pixels; the tiny release's images have 24 × 20 = 480
        with pytest.raises(MCQError, match=r"row 0 .*image 1 of images_list: 24×20 = 480 pixels, more "
                                           r"than benchmark.max_image_pixels \(400\) allows"):
            build_microvqa(tmp_path / "small", seed=0, path=str(microvqa_release))
        set_max_image_pixels(480)
        assert build_microvqa(tmp_path / "bench", seed=0, path=str(microvqa_release))["max_image_pixels"] == 480
    finally:
        set_max_image_pixels(None)


def test_microvqa_prompt_is_the_authors_byte_for_byte():
    assert build_microvqa_prompt("Why?", ["a", "b c"]) == (
        "The following is a multiple choice question (with answers). \n"
        'Think step by step and then output the answer in the format of "The answer is (X)" at the end.\n\n'
        "Why?\n\nOptions:\n  (1): a\n  (2): b c\n\n")


def test_one_image_answer_keys_are_unchanged_so_old_caches_are_kept():
    old = hashlib.sha1(json.dumps(["fp", "letter-mcq-v1", "generate", "md5a", "prompt"]).encode()).hexdigest()
    assert answer_key("fp", "generate", ["md5a"], "prompt") == old
    assert answer_key("fp", "generate", ["md5a", "md5b"], "prompt") != old
    with pytest.raises(TypeError, match="as a list"):
        answer_key("fp", "generate", "md5a", "prompt")


def test_leaderboard_reference_holds_the_published_values():
    board = read_reference(REPO / "paper_figures" / source_of("microvqa").reference).set_index("model")
    assert board.index.is_unique and board["accuracy"].between(0, 100).all()
    for model, overall in {"o1": 52.8, "Claude-3.5-Sonnet": 51.7, "Gemini-Pro-1.5": 51.1, "GPT-4o": 45.6,
                           "Random": 22.0, "InternVL3.5-4B (MicroVQA++ fine-tuned)": 59.4}.items():
        assert board.loc[model, "accuracy"] == overall
    assert board.loc[["Claude-3.5-Sonnet", "GPT-4o"], "used_in_refinebot"].all()
    assert board["used_in_refinebot"].sum() == 2 and set(board["benchmark"]) == {"microvqa"}
    assert source_of("demo").reference == source_of("ubench").reference == "reference/paper_table1.csv"
    assert for_benchmark(board.reset_index(), "microvqapp").empty


def test_table1_notes_name_the_protocol_and_every_skipping_model():
    vlm = ModelSpec.from_config(dict(name="vlm", family="hf_vlm", model_id="x"))
    clip = ModelSpec.from_config(dict(name="clip", label="CLIP", family="open_clip", architecture="x"))
    random = ModelSpec.from_config(dict(name="Random", family="random", seed=0))
    manifest = dict(source="microvqa", protocol="microvqa_cot", multi_image_questions=7)
    assert protocol_notes(manifest, [random, clip]) == []
    assert "chain-of-thought" in protocol_notes(manifest, [random, vlm])[0]
    assert protocol_notes(dict(manifest, protocol="mubench_letter"), [vlm]) == []
    assert skip_notes(manifest, [random, vlm, clip]) == [
        "CLIP: takes one image per question, so the 7 questions with several images are skipped (its n is smaller)"]
    assert skip_notes(dict(source="demo"), [clip]) == []


class Recording:
    """A generative model that answers "The answer is (2)" and records the images and prompts it is given."""

    def __init__(self):
        self.images, self.prompts = [], []

    def generate(self, images, prompts, n_options):
        for i, (question_images, prompt) in enumerate(zip(images, prompts)):
            self.images.append([im.size for im in question_images])
            self.prompts.append(prompt)
            yield i, "Step by step... The answer is **(2)**.", None


class Contrastive:
    logit_scale = 1.0

    def encode_images(self, images):
        import numpy as np
        return np.ones((len(images), 2)) / np.sqrt(2)

    def encode_texts(self, texts):
        import numpy as np
        return np.ones((len(texts), 2)) / np.sqrt(2)


def test_generative_models_get_every_image_and_the_cot_protocol(tmp_path, microvqa_release):
    build_microvqa(tmp_path / "bench", seed=0, path=str(microvqa_release))
    spec = ModelSpec.from_config(dict(name="vlm", family="hf_vlm", model_id="unused"))
    model = Recording()
    table = predict_subset(spec, tmp_path / "bench", "cognition", cache_dir=tmp_path / "cache", batch_size=2,
                           model=model)
    assert len(table) == 5 and [len(sizes) for sizes in model.images] == [1, 3, 1, 1, 1]
    assert model.prompts[0].startswith("The following is a multiple choice question (with answers). \nThink step")
    assert "\n\nOptions:\n  (1): option 1.0\n  (2): option 1.1\n" in model.prompts[0]
    assert list(table["prediction"]) == [1] * 5 and list(table["correct"]) == [False, False, False, True, False]
    assert table["parsed_microvqa"].tolist() == [1] * 5 and table["parsed_code"].isna().all()
    assert set(table["prompt_version"]) == {"microvqa-cot-v1:generate"}
    assert set(table["parser_version"]) == {"microvqa-regex-v1:microvqa"}
    sensitivity = matching_sensitivity(table)
    assert list(sensitivity["rule"]) == ["microvqa"] and sensitivity["n_correct"].tolist() == [1]
    again = Recording()  # every answer is cached under all of the question's images
    predict_subset(spec, tmp_path / "bench", "cognition", cache_dir=tmp_path / "cache", batch_size=2, model=again)
    assert again.prompts == []

    letter_logits = ModelSpec.from_config(dict(name="vlm", family="hf_vlm", model_id="unused", scoring="letter_logits"))
    with pytest.raises(ValueError, match="letter_logits.*microvqa_cot protocol"):
        predict_subset(letter_logits, tmp_path / "bench", "cognition", cache_dir=tmp_path / "c2", batch_size=2,
                       model=Recording())


def test_single_image_models_skip_multi_image_questions_counted(tmp_path, microvqa_release, caplog):
    build_microvqa(tmp_path / "bench", seed=0, path=str(microvqa_release))
    clip = ModelSpec.from_config(dict(name="clip", family="open_clip", architecture="x"))
    caplog.set_level(logging.WARNING)
    table = predict_subset(clip, tmp_path / "bench", "cognition", cache_dir=tmp_path / "cache", batch_size=4,
                           model=Contrastive())
    assert "microvqa_2" not in set(table["question_id"]) and len(table) == 4
    assert "model clip takes one image per question: skipping 1 of 5 questions that have several" in caplog.text
    random = ModelSpec.from_config(dict(name="Random", family="random", seed=0))
    assert len(predict_subset(random, tmp_path / "bench", "cognition", cache_dir=tmp_path / "r", batch_size=4)) == 5


def test_multi_image_question_through_a_real_tiny_vlm_and_the_api_body(tmp_path, microvqa_release):
    from tiny_vlms import save_tiny_qwen25_vl

    from mubench.models import load_model
    from mubench.models.openai_api import OpenAIChatModel

    build_microvqa(tmp_path / "bench", seed=0, path=str(microvqa_release))
    spec = ModelSpec.from_config(dict(name="tiny-qwen", family="hf_vlm", model_id=str(save_tiny_qwen25_vl(
        tmp_path / "qwen")), dtype="float32", max_new_tokens=4))
    model = load_model(spec)
    assert model.format_prompt("Q", 2).count("<|image_pad|>") == 2
    table = predict_subset(spec, tmp_path / "bench", "cognition", cache_dir=tmp_path / "cache", batch_size=3,
                           model=model)
    assert len(table) == 5 and table["response"].map(type).eq(str).all()

    api = OpenAIChatModel.__new__(OpenAIChatModel)  # request body only: no key, no network
    api.spec = ModelSpec.from_config(dict(name="g", family="openai_api", api_model="m"))
    images = [load_image(p) for p in list(Benchmark(tmp_path / "bench").image_paths().values())[:3]]
    content = api.request_body(images, "prompt")["messages"][0]["content"]
    assert [c["type"] for c in content] == ["text", "image_url", "image_url", "image_url"]


def _run_workflow(workdir, source: str, release) -> dict:
    """The workflow on ``release`` in ``workdir`` with Random and the tiny open_clip (the source's shipped config,
    path set)."""
    config = yaml.safe_load((workdir / "configs" / f"{source}.yaml").read_text())
    config["benchmark"][source].update(path=str(release), workers=2)
    config["bootstrap"]["n_resamples"] = 999
    (workdir / "run.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "--configfile", "run.yaml")
    return config


@pytest.mark.workflow
def test_workflow_microvqa_end_to_end(tmp_path, microvqa_release):
    workdir = copy_workflow(tmp_path / "wf")
    _run_workflow(workdir, "microvqa", microvqa_release)
    figures = workdir / "paper_figures" / "microvqa"
    table1 = pd.read_csv(figures / "table1.csv")
    assert list(table1["subset"].unique()) == ["cognition"]
    rows = table1.set_index("model")
    assert rows.loc["Random", "n_questions"] == 5 and rows.loc["Random", "paper_accuracy"] == 22.0
    assert rows.loc["OpenCLIP tiny (untrained)", "n_questions"] == 4  # the three-image question is skipped
    assert table1["small_n"].all()  # 4 or 5 questions: the interval says little, and the table says so
    breakdown = pd.read_csv(figures / "table1_breakdown.csv")
    tasks = breakdown[(breakdown["level"] == "question_type") & (breakdown["scope"] == "all")
                      & (breakdown["model"] == "Random")].set_index("group")
    assert tasks["n_questions"].to_dict() == {"experiment_proposal": 1, "expert_visual_understanding": 2,
                                              "hypothesis_generation": 2}
    assert tasks.loc["expert_visual_understanding", "paper_accuracy"] == 21.9
    markdown = (figures / "table1.md").read_text()
    assert "MicroVQA's leaderboard" in markdown and "59.4 %" in markdown and "## per task" in markdown
    assert "OpenCLIP tiny (untrained): takes one image per question, so the 1 questions" in markdown
    assert r"n = 4--5" in (figures / "table1.tex").read_text()  # the skipping model's smaller n, in the header
    manifest = json.loads((workdir / "results" / "microvqa" / "benchmark" / "manifest.json").read_text())
    assert manifest["source"] == "microvqa" and manifest["multi_image_questions"] == 1
    assert not (figures / "table13_linear_probe.csv").exists()
    assert (figures / "table14_phash.csv").exists()
    # the leaderboard ranks the run models among MicroVQA's whole published leaderboard, shown from the start
    page = (figures / "leaderboard.html").read_text()
    data = json.loads(re.search(r'id="leaderboard-data">(.*?)</script>', page, re.S)[1])
    published = {row["name"]: row["cells"]["cognition"]["paper"] for row in data["published"]}
    assert data["published_comparable"] and published["o1"] == 52.8 and published["Human"] == 50.3
    assert "Random" not in published  # run here: its published 22.0 sits beside ours instead
    # what a score means: the Prior falls back (one split), the blind run and the audit's flags that cannot apply
    prior = pd.read_csv(figures / "prior_baseline.csv")
    assert prior["fit"].str.startswith("fallback: two seeded halves").all()
    vision = pd.read_csv(figures / "vision_dependence.csv").set_index("model")
    assert vision.loc["OpenCLIP tiny (untrained)", "ablation"] == "neutral_image"
    assert vision.loc["OpenCLIP tiny (untrained)", "n"] == 4 and vision.loc["Random", "n"] == 5
    notes = (figures / "audit_summary.md").read_text()
    for flag, reason in (("duplicate_cross_split", "every image is in one split"),
                         ("label_conflict", "no coarse questions (a cognition-only benchmark)"),
                         ("answerable_blind", "1 model(s) answered blind")):
        assert re.search(rf"- {flag}: .* — cannot apply here: {re.escape(reason)}", notes), flag
    audit = pd.read_csv(figures / "audit.csv")
    assert len(audit) == 5 and audit["flag_label_conflict"].isna().all()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.workflow
def test_a_copied_demo_run_reruns_nothing_and_keeps_its_artefacts_beside_a_microvqapp_run(tmp_path, demo_run,
                                                                                         pdflatex):
    """A finished demo run copied to another folder has nothing to rerun (no stored input or parameter holds an
    absolute path); MicroVQA++ run in that folder writes paper_figures/microvqapp/ and leaves the demo's
    artefacts byte for byte as they were; its tables compile and its report shows them."""
    from test_workflow import PAPER_TABLES, check_table1_layout, check_tables_readable_in_report

    workdir = tmp_path / "copy"
    shutil.copytree(demo_run, workdir, symlinks=True, ignore=shutil.ignore_patterns("report.html"))
    planned = snakemake(workdir, "-n").stdout
    assert "Nothing to be done" in planned, planned[-3000:]
    demo = _files(workdir / "paper_figures" / "demo")
    assert {f"{stem}.tex" for stem in PAPER_TABLES} <= set(demo)

    release = write_release(tmp_path / "pp", microvqapp_rows(one_based=True, labels="numbers"), MICROVQAPP_SCHEMA,
                            split="test")
    _run_workflow(workdir, "microvqapp", release)
    assert _files(workdir / "paper_figures" / "demo") == demo
    figures = workdir / "paper_figures" / "microvqapp"
    table1 = pd.read_csv(figures / "table1.csv")
    assert set(table1["n_questions"]) == {4} and table1["paper_accuracy"].isna().all()
    predictions = pd.read_parquet(workdir / "results" / "microvqapp" / "predictions" / "Random" / "cognition.parquet")
    questions = Benchmark(workdir / "results" / "microvqapp" / "benchmark").questions
    assert (predictions["answer_idx"].tolist() == questions["answer_idx"].tolist() == [0, 3, 1, 2])
    assert "no results on MicroVQA++'s own questions" in (figures / "table1.md").read_text()

    tex = sorted(figures.glob("*.tex"))
    assert {p.stem for p in tex} == {"table1", "table14_phash", "table14_robustness", "table14_robustness_summary",
                                     "table21_models", "vision_dependence", "audit_summary", "audit_option_bias",
                                     "prior_baseline"}
    assert [problem for path in tex for problem in compile_problems(path)] == []
    check_table1_layout(figures)
    snakemake(workdir, "--configfile", "run.yaml", "--report", "paper_figures/microvqapp/report.html")
    report = (figures / "report.html").read_text()
    flagged = subprocess.run([sys.executable, str(REPO / "tests" / "report_outputs.py"), str(workdir), "run.yaml"],
                             cwd=workdir, check=True, capture_output=True, text=True, timeout=300).stdout.split()
    assert flagged and all(name.startswith("paper_figures/microvqapp/") for name in flagged)
    check_tables_readable_in_report(figures, report, flagged)
    assert (workdir / "paper_figures" / "demo" / "leaderboard.html").read_bytes() == demo["leaderboard.html"]


@pytest.mark.workflow
def test_shipped_config_without_data_stops_at_once_saying_what_to_set(tmp_path):
    """configs/microvqa.yaml as shipped names no release (path and revision null): refused when the config is read,
    before anything is planned or built."""
    result = snakemake(copy_workflow(tmp_path), "-n", "--configfile", "configs/microvqa.yaml", check=False)
    assert result.returncode != 0
    assert ("Config error: benchmark.microvqa: set `path` (a folder holding the release's parquet shards) or "
            "`revision`") in result.stderr
    assert "Traceback" not in result.stderr + result.stdout and "absent" not in result.stdout  # nothing planned
