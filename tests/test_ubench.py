"""The ubench source on a tiny release written in the exact uBench Arrow schema, with every known quirk."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from conftest import REPO, snakemake

from mubench.benchmark import ubench_acquire
from mubench.benchmark.tables import Benchmark, load_image
from mubench.benchmark.ubench import build_ubench
from mubench.benchmark.ubench_acquire import SUBFOLDER, UBenchSourceError
from mubench.benchmark.sources import workflow_subsets
from mubench.benchmark.ubench_cognition import CognitionFormatError
from mubench.benchmark.ubench_convert import (
    Tally,
    UnevenListsError,
    as_mapping,
    as_records,
    detection_rows,
    outline_box,
)

SHARD = "ubench-test-00000-of-00001.arrow"
QUESTION = pa.struct([("question", pa.string()), ("options", pa.list_(pa.string())), ("answer", pa.string()),
                      ("answer_idx", pa.int64()), ("id", pa.string()), ("name", pa.string())])
CAPTION = pa.struct([("question", pa.string()), ("options", pa.list_(pa.string())), ("answer", pa.string())])
OUTLINES = pa.list_(pa.struct([("className", pa.string()), ("points", pa.list_(pa.list_(pa.float64())))]))
QUESTION_KEYS = ("modality", "submodality", "domain", "subdomain", "stain", "classification")
CAPTION_KEYS = ("modality", "modality_1", "submodality", "domain", "subdomain", "stain", "classification_0",
                "classification_1")
STRINGS = ("label_name", "dataset", "domain", "institution", "license")
SCHEMA = pa.schema(
    [("image_id", pa.string()), ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
     ("label", pa.int64())] + [(c, pa.string()) for c in STRINGS] + [("microns_per_pixel", pa.float64())]
    + [(c, pa.string()) for c in ("modality", "ncbitaxon_id", "ncbitaxon_name", "pmid", "split", "stain",
                                  "subdomain", "submodality")]
    + [("synthetic", pa.bool_()), ("captions", pa.struct([(k, CAPTION) for k in CAPTION_KEYS])),
       ("questions", pa.struct([(k, QUESTION) for k in QUESTION_KEYS])), ("bbox", OUTLINES), ("polygon", OUTLINES)])


def encoded(seed: int, fmt: str) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (16, 20, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def mcq(kind: str, answer_idx: int = 1) -> dict:
    options = [f"{kind} a", f"{kind} b", f"{kind} c", "none of the above"]
    return dict(question=f"Which {kind}?", options=options, answer=options[answer_idx], answer_idx=answer_idx,
                id=f"q-{kind}", name=kind)


def captions_for(options: list[str], template: str) -> dict:
    sentences = [template.format(o) for o in options]
    return dict(question=None, options=sentences, answer=sentences[1])


def release_row(image_id: str, dataset: str | None, stain: str, *, image: bytes, null_types=(),
                caption_keys=CAPTION_KEYS, bbox=(), polygon=()) -> dict:
    questions = {k: (None if k in null_types else mcq(k)) for k in QUESTION_KEYS}
    if "stain" in null_types:  # the release's other null shape: the struct is there, its fields are null
        questions["stain"] = dict.fromkeys(QUESTION.names)
    captions = {k: captions_for(mcq(k.split("_")[0])["options"], f"An image of {{}} ({k}).") for k in caption_keys}
    return dict(image_id=image_id, image=dict(bytes=image, path=None), label=0, label_name="x", dataset=dataset,
                domain="biology", institution="inst", license="CC-BY-4.0", microns_per_pixel=0.5,
                modality="fluorescence microscopy", ncbitaxon_id="9606", ncbitaxon_name="human", pmid="1",
                split="test", stain=stain, subdomain="cell biology", submodality="confocal", synthetic=False,
                captions=captions, questions=questions,
                bbox=[dict(className=c, points=p) for c, p in bbox],
                polygon=[dict(className=c, points=p) for c, p in polygon])


ROWS = [
    release_row("kather_1", "kather_et_al_2016", "H&E", image=encoded(1, "JPEG")),
    release_row("held_h2b_1", None, "H2B-mCherry", image=encoded(2, "PNG"),
                polygon=[("nucleus", [[1, 2], [5, 1], [4, 7]]), ("Nucleus", [[10, 10], [12, 14], [11, 12]])]),
    release_row("held_galt_1", None, "GalT\u2013EGFP", image=encoded(3, "PNG"),
                bbox=[("nucleus", [[2, 3], [8, 9]])], polygon=[("nucleus", [[0, 0], [1, 1], [0, 1]])]),
    release_row("nirschl_1", "nirschl_unpub_fluorescence", "DAPI", image=encoded(4, "PNG"),
                null_types=("submodality", "stain"), caption_keys=tuple(k for k in CAPTION_KEYS
                                                                       if k != "classification_1")),
    release_row("opencell_1", "opencell", "mNeonGreen", image=encoded(5, "PNG"),
                polygon=[("nuclei", [[3, 3], [6, 3], [6, 8], [3, 8]])]),
    release_row("glas_1", "sirinukunwattana_et_al_2016", "H&E", image=encoded(6, "PNG")),
    release_row("held_unknown_1", None, "Hoechst", image=encoded(7, "PNG")),
    release_row("burgess_1", "burgess_et_al_2024_contour", "synthetic", image=encoded(8, "PNG"),
                bbox=[("cell", [[0, 0], [15, 12]]), ("nucleus", [[4, 4], [9, 8]]),
                      ("background", [[0, 0], [1, 1]])]),
    release_row("eulenberg_1", "eulenberg_et_al_2017_darkfield", "None", image=encoded(9, "PNG")),
]


def write_release(root: Path, rows: list[dict], schema: pa.Schema) -> tuple[Path, dict[str, str]]:
    """A one-shard release folder laid out like the hub repo, and its SHA-256 table."""
    folder = root / "release" / SUBFOLDER
    folder.mkdir(parents=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    with pa.OSFile(str(folder / SHARD), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for batch in table.to_batches(max_chunksize=4):  # several record batches, like the real shards
            writer.write_batch(batch)
    return root / "release", {SHARD: hashlib.sha256((folder / SHARD).read_bytes()).hexdigest()}


@pytest.fixture
def release(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return write_release(tmp_path, ROWS, SCHEMA)


def build(tmp_path, release, **options):
    root, sha256 = release
    out = tmp_path / "bench"
    manifest = build_ubench(out, seed=0, path=str(root), sha256=sha256, workers=2, **options)
    return Benchmark(out), manifest


def test_official_conversion_row_by_row(tmp_path, release):
    bench, manifest = build(tmp_path, release)
    questions = bench.questions.set_index("question_id")
    kather = questions.loc["kather_1:modality"]
    assert kather.subset == "coarse" and kather.dataset == "kather_et_al_2016"
    assert list(kather.options) == mcq("modality")["options"] and kather.answer_idx == 1
    assert kather.caption_key == "modality"
    assert list(kather.captions) == [f"An image of {o} (modality)." for o in kather.options]
    assert {k: list(v) for k, v in kather.caption_variants.items()} == {
        "modality_1": [f"An image of {o} (modality_1)." for o in kather.options]}
    fine = questions.loc["kather_1:classification"]
    assert fine.subset == "fine" and fine.caption_key == "classification_1"
    assert list(fine.caption_variants) == ["classification_0"]

    # Held rows named by stain (en dash included); nulls skipped; classification_1 absent → classification_0.
    assert set(questions.loc[questions.image_id == "held_galt_1", "dataset"]) == {"held_et_al_2010_galt"}
    nirschl = questions[questions.image_id == "nirschl_1"]
    assert sorted(nirschl.question_type) == ["classification", "domain", "modality", "subdomain"]
    assert nirschl.set_index("question_type").loc["classification", "caption_key"] == "classification_0"
    # Official task list: no opencell / GlaS questions; opencell stays for detection; eulenberg is official.
    assert not questions.dataset.isin(["opencell", "sirinukunwattana_et_al_2016"]).any()
    assert len(questions) == 5 * 6 + 4  # kather, 2 held, burgess, eulenberg: 6 each; nirschl: 4

    images = bench.images.set_index("image_id")
    assert sorted(images.index) == ["burgess_1", "eulenberg_1", "held_galt_1", "held_h2b_1", "kather_1",
                                    "nirschl_1", "opencell_1"]
    png = (bench.root / images.loc["held_h2b_1", "path"]).read_bytes()
    assert png == ROWS[1]["image"]["bytes"]  # PNG kept verbatim
    jpeg = np.asarray(Image.open(io.BytesIO(ROWS[0]["image"]["bytes"])).convert("RGB"))
    assert np.array_equal(np.asarray(load_image(bench.root / images.loc["kather_1", "path"])), jpeg)
    assert images.loc["kather_1", "md5"] == hashlib.md5((bench.root / "images/kather_1.png").read_bytes()).hexdigest()

    detection = {(r.image_id, r.class_name): r for r in bench.detection.itertuples()}
    assert sorted(detection) == [("burgess_1", "cell"), ("burgess_1", "nucleus"), ("held_galt_1", "nucleus"),
                                 ("held_h2b_1", "nucleus"), ("opencell_1", "nucleus")]
    assert [list(b) for b in detection["held_h2b_1", "nucleus"].boxes] == [[1, 1, 5, 7], [10, 10, 12, 14]]
    assert [list(b) for b in detection["held_galt_1", "nucleus"].boxes] == [[2, 3, 8, 9]]  # bbox wins
    assert detection["burgess_1", "cell"].difficulty == "easy"
    assert detection["burgess_1", "nucleus"].difficulty == "hard"
    assert detection["opencell_1", "nucleus"].difficulty == "hard"

    assert manifest["rows"]["total"] == len(ROWS)
    assert manifest["rows"]["per_dataset"]["held_et_al_2010_h2b"] == 1
    assert manifest["rows"]["per_dataset"]["None"] == 1
    decisions = manifest["decisions"]
    assert decisions["rows_dropped"] == {"dataset missing and stain 'Hoechst' not mapped": 1,
                                         "sirinukunwattana_et_al_2016: no question or detection task left": 1}
    assert decisions["questions_null"] == {"nirschl_unpub_fluorescence/stain": 1,
                                           "nirschl_unpub_fluorescence/submodality": 1}
    assert decisions["caption_default_missing"] == {"nirschl_unpub_fluorescence/classification -> classification_0": 1}
    assert decisions["detection_objects_dropped"] == {"burgess_et_al_2024_contour/background: not a Table 18 task": 1}
    assert decisions["detection_boxes_from_polygon"] == {"held_et_al_2010_h2b/nucleus": 2, "opencell/nucleus": 1}
    assert manifest["inputs"][SHARD]["sha256"] == release[1][SHARD]
    assert manifest["subsets"] == ["coarse", "fine"] and manifest["cognition"]["status"].startswith("skipped")
    assert manifest["counts"]["questions"] == {"coarse/domain": 6, "coarse/modality": 6, "coarse/stain": 5,
                                               "coarse/subdomain": 6, "coarse/submodality": 5,
                                               "fine/classification": 6}


def test_question_without_any_caption_set_is_kept_for_generative_models_only(tmp_path):
    """All caption sets null: generative models still get the question; contrastive models skip it (counted)."""
    from mubench.answering.questions import subset_questions
    from mubench.models import ModelSpec

    rows = [release_row("wong_1", "wong_et_al_2022", "IHC", image=encoded(11, "PNG"), caption_keys=()),
            release_row("kather_2", "kather_et_al_2016", "H&E", image=encoded(12, "PNG"))]
    bench, manifest = build(tmp_path, write_release(tmp_path, rows, SCHEMA))
    questions = bench.questions.set_index("question_id")
    assert len(questions) == 12
    wong = questions[questions.image_id == "wong_1"]
    assert len(wong) == 6 and (wong.captions.map(len) == 0).all() and (wong.caption_key == "").all()
    assert manifest["decisions"]["questions_without_caption_set"] == {
        f"wong_et_al_2022/{t}": 1 for t in QUESTION_KEYS}
    assert "questions_dropped" not in manifest["decisions"]
    assert manifest["counts"]["coarse_rows"] == {  # Random answers wong_1's five questions too; modality_1 pools
        "contrastive": {"default": 5, "pooled": 6}, "random": {"default": 10, "pooled": 11}, "generative": 10}

    contrastive = ModelSpec.from_config(dict(name="clip", family="open_clip", architecture="ViT-B-32"))
    generative = ModelSpec.from_config(dict(name="vlm", family="hf_vlm", model_id="/nowhere"))
    for subset, n in (("coarse", 5), ("fine", 1)):
        assert set(subset_questions(bench, generative, subset).image_id) == {"wong_1", "kather_2"}
        asked = subset_questions(bench, contrastive, subset)
        assert set(asked.image_id) == {"kather_2"} and len(asked) == n


def test_held_outlines_named_after_the_chromatin_marker_are_nuclei(tmp_path):
    rows = [release_row("held_h2b_2", None, "H2B-mCherry", image=encoded(13, "PNG"),
                        polygon=[("H2B-mCherry", [[1, 2], [5, 1], [4, 7]]), ("h2b mCherry", [[9, 9], [12, 14]]),
                                 ("H2B_mCherry", [[0, 0], [3, 3]]), ("GalT-EGFP", [[2, 2], [6, 6]])]),
            release_row("burgess_2", "burgess_et_al_2024_contour", "synthetic", image=encoded(14, "PNG"),
                        bbox=[("H2B-mCherry", [[0, 0], [4, 4]])])]
    bench, manifest = build(tmp_path, write_release(tmp_path, rows, SCHEMA))
    detection = {(r.image_id, r.class_name): r for r in bench.detection.itertuples()}
    assert sorted(detection) == [("held_h2b_2", "nucleus")]
    assert len(detection["held_h2b_2", "nucleus"].boxes) == 3 and detection["held_h2b_2", "nucleus"].difficulty \
        == "easy"
    decisions = manifest["decisions"]
    assert decisions["detection_class_from_marker"] == {"held_et_al_2010_h2b/H2B-mCherry -> nucleus": 1,
                                                         "held_et_al_2010_h2b/H2B_mCherry -> nucleus": 1,
                                                         "held_et_al_2010_h2b/h2b mCherry -> nucleus": 1}
    # the marker names nuclei only in Held's datasets; the Golgi marker is no Table 18 class: both counted
    assert decisions["detection_objects_dropped"] == {
        "held_et_al_2010_h2b/galt-egfp: not a Table 18 task": 1,
        "burgess_et_al_2024_contour/h2b-mcherry: not a Table 18 task": 1}


def test_all_tasks_and_excluded_datasets(tmp_path, release):
    bench, manifest = build(tmp_path, release, tasks="all", exclude_datasets=["eulenberg_et_al_2017_darkfield"])
    questions = bench.questions
    assert {"opencell", "sirinukunwattana_et_al_2016"} <= set(questions.dataset)
    assert "eulenberg_et_al_2017_darkfield" not in set(questions.dataset) | set(bench.images.dataset)
    assert manifest["decisions"]["rows_dropped"]["eulenberg_et_al_2017_darkfield: in exclude_datasets"] == 1
    assert len(questions) == 6 * 6 + 4  # kather, 2 held, opencell, GlaS, burgess: 6 each; nirschl: 4


def test_checksum_mismatch_names_shard_and_hashes(tmp_path, release):
    root, sha256 = release
    wrong = {SHARD: "0" * 64}
    with pytest.raises(UBenchSourceError, match=rf"{SHARD}.*{sha256[SHARD]}.*expected {'0' * 64}"):
        build_ubench(tmp_path / "bench", seed=0, path=str(root), sha256=wrong)


def test_truncated_shard_is_refused(tmp_path, release):
    root, sha256 = release
    shard = root / SUBFOLDER / SHARD
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(UBenchSourceError, match=rf"shard {SHARD}.*truncated"):
        build_ubench(tmp_path / "bench", seed=0, path=str(root), sha256=sha256)


def test_hash_is_recorded_and_not_recomputed(tmp_path, release, monkeypatch):
    build(tmp_path, release)
    record = json.loads((tmp_path / "ubench_shard_sha256.json").read_text())
    assert [v["sha256"] for v in record.values()] == [release[1][SHARD]]
    monkeypatch.setattr(ubench_acquire, "sha256_file", lambda path: pytest.fail("re-hashed an unchanged shard"))
    build(tmp_path, release)


def test_offline_without_a_copy_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(UBenchSourceError, match=r"not available offline; set benchmark\.ubench\.path .* HF_HOME"):
        build_ubench(tmp_path / "bench", seed=0)


def test_offline_reads_the_hf_cache_named_by_hf_home(tmp_path, release, monkeypatch):
    root, sha256 = release
    revision = "a" * 40
    snapshot = tmp_path / "hf" / "hub" / "datasets--jnirschl--uBench" / "snapshots" / revision
    (snapshot / SUBFOLDER).mkdir(parents=True)
    (snapshot / SUBFOLDER / SHARD).write_bytes((root / SUBFOLDER / SHARD).read_bytes())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    manifest = build_ubench(tmp_path / "bench", seed=0, revision=revision, sha256=sha256)
    assert manifest["revision"] == revision and manifest["rows"]["total"] == len(ROWS)


def test_other_revision_needs_its_checksums(tmp_path):
    with pytest.raises(UBenchSourceError, match="benchmark.ubench.sha256"):
        build_ubench(tmp_path / "bench", seed=0, revision="b" * 40, path=str(tmp_path))


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_cognition_folder(tmp_path, release, fmt):
    folder = tmp_path / "cognition"
    folder.mkdir()
    (folder / "cell.tif").write_bytes(encoded(10, "TIFF"))
    entries = [dict(image="cell.tif", question="How many cells?", options=["1", "2", "None of the above"],
                    answer_idx=1, subdomain="cell biology"),
               dict(image="cell.tif", question="Which stain?", options=["DAPI", "H&E"], answer_idx=0,
                    subdomain="cell biology", question_id="expert_7")]
    if fmt == "json":
        (folder / "questions.json").write_text(json.dumps(entries))
    else:
        lines = ["image,question,options,answer_idx,subdomain,question_id"] + [
            ",".join([e["image"], e["question"], '"' + json.dumps(e["options"]).replace('"', '""') + '"',
                      str(e["answer_idx"]), e["subdomain"], e.get("question_id", "")]) for e in entries]
        (folder / "questions.csv").write_text("\n".join(lines) + "\n")
    bench, manifest = build(tmp_path, release, cognition_path=str(folder))
    cognition = bench.questions[bench.questions.subset == "cognition"]
    assert list(cognition.question_id) == ["cognition_0001", "expert_7"]
    assert [list(o) for o in cognition.options] == [e["options"] for e in entries]
    assert list(cognition.answer_idx) == [1, 0] and cognition.image_id.nunique() == 1
    assert manifest["subsets"] == ["coarse", "cognition", "fine"] and manifest["cognition"]["questions"] == 2


def test_cognition_errors_name_the_entry(tmp_path):
    folder = tmp_path / "cognition"
    folder.mkdir()
    (folder / "questions.json").write_text(json.dumps([dict(image="x.png", question="q", options=["a", "b"],
                                                            answer_idx=5, subdomain="s")]))
    from mubench.benchmark.ubench_cognition import load_cognition
    with pytest.raises(CognitionFormatError, match="entry 1: answer_idx 5 not in 0..1"):
        load_cognition(folder, tmp_path / "out")


def test_workflow_skips_cognition_without_a_folder():
    subsets = ["coarse", "fine", "cognition"]
    assert workflow_subsets({"source": "ubench", "ubench": {"cognition_path": None}}, subsets) == ["coarse", "fine"]
    assert workflow_subsets({"source": "ubench", "ubench": {"cognition_path": "/c"}}, subsets) == subsets
    assert workflow_subsets({"source": "demo"}, subsets) == subsets


def test_other_arrow_shapes_are_read_the_same():
    """``datasets`` may store Sequence(dict) as a struct of lists and a dict-like feature as an Arrow map."""
    assert as_records({"className": ["cell", "nucleus"], "points": [[[0, 0], [2, 2]], [1, 1, 3, 4]]}) == [
        {"className": "cell", "points": [[0, 0], [2, 2]]}, {"className": "nucleus", "points": [1, 1, 3, 4]}]
    assert as_mapping([("modality", {"question": "q"})]) == {"modality": {"question": "q"}}
    assert outline_box([1, 1, 3, 4]) == [1.0, 1.0, 3.0, 4.0] and outline_box([1, 2, 3]) is None
    rows = detection_rows("i", "wu_et_al_2023", {"className": [], "points": []},
                          {"className": ["Mitochondrion"], "points": [[5, 6, 9, 2, 7, 7]]}, Tally())
    assert rows == [dict(image_id="i", dataset="wu_et_al_2023", class_name="mitochondria",
                         boxes=[[5.0, 2.0, 9.0, 7.0]], difficulty="hard")]


# The other Arrow shape of bbox/polygon: a struct of parallel lists (``datasets`` Sequence(dict)).
PARALLEL_OUTLINES = pa.struct([("className", pa.list_(pa.string())),
                               ("points", pa.list_(OUTLINES.value_type.field("points").type))])
PARALLEL_SCHEMA = pa.schema([field.with_type(PARALLEL_OUTLINES) if field.name in ("bbox", "polygon") else field
                             for field in SCHEMA])


def parallel(outlines) -> dict:
    return {"className": [name for name, _ in outlines], "points": [points for _, points in outlines]}


def test_uneven_parallel_lists_are_refused_by_name():
    with pytest.raises(UnevenListsError, match="className 2, points 1"):
        as_records({"className": ["cell", "nucleus"], "points": [[1, 1, 3, 4]]})


def test_uneven_outline_lists_are_counted_logged_and_never_paired_by_guess(tmp_path, caplog):
    """Two class names for one point list: which box is whose is unknown, so the bbox column is not used (it
    used to be padded with None, keeping a guessed pairing); the polygon column is used instead."""
    rows = [
        dict(release_row("burgess_1", "burgess_et_al_2024_contour", "synthetic", image=encoded(8, "PNG")),
             bbox=parallel([("nucleus", [[4, 4], [9, 8]])]) | {"className": ["cell", "nucleus"]},
             polygon=parallel([("cell", [[0, 0], [15, 0], [15, 12]])])),
        dict(release_row("burgess_2", "burgess_et_al_2024_contour", "synthetic", image=encoded(9, "PNG")),
             bbox=parallel([("cell", [[1, 1], [6, 6]]), ("nucleus", [[2, 2], [3, 3]])]), polygon=parallel([])),
    ]
    with caplog.at_level("WARNING", logger="mubench.benchmark.ubench_convert"):
        bench, manifest = build(tmp_path, write_release(tmp_path, rows, PARALLEL_SCHEMA))
    detection = {(r.image_id, r.class_name): [list(b) for b in r.boxes] for r in bench.detection.itertuples()}
    assert detection == {("burgess_1", "cell"): [[0, 0, 15, 12]], ("burgess_2", "cell"): [[1, 1, 6, 6]],
                         ("burgess_2", "nucleus"): [[2, 2, 3, 3]]}
    assert manifest["decisions"]["detection_outlines_uneven"] == {
        "burgess_et_al_2024_contour/bbox: parallel lists of unequal length: className 2, points 1": 1}
    assert "image burgess_1 (burgess_et_al_2024_contour): bbox holds parallel lists of unequal length" in caplog.text


@pytest.mark.workflow
def test_paper_config_plans_without_the_shards(tmp_path):
    """The dry run needs no release files, and asks for no cognition jobs while no cognition folder is set."""
    done = snakemake(tmp_path, "-n", "--snakefile", str(REPO / "Snakefile"), "--configfile",
                     str(REPO / "configs" / "paper.yaml"), cores=1, timeout=300)
    assert "results/ubench/benchmark/images.parquet" in done.stdout
    assert "results/ubench/predictions/BiomedCLIP/fine.parquet" in done.stdout
    assert "/cognition.parquet" not in done.stdout
    # every paper artefact is planned (Tables 9–11 as a note: the expert cognition set is not public)
    from test_workflow import PAPER_FIGURES, PAPER_TABLES, STATISTICS

    cognition = {"table9_cognition_summary", "table10_cognition_modalities", "table11_cognition_domains"}
    expected = [f"paper_figures/ubench/{name}" for name in
                [f"{stem}.tex" for stem in PAPER_TABLES if stem not in cognition]
                + [f"{stem}.pdf" for stem in PAPER_FIGURES] + STATISTICS
                + ["leaderboard.html", "reproduction.md", "absent/tables9_11_cognition.png"]]
    assert [path for path in expected if path not in done.stdout] == []
