"""Detection prompts, box parsers, the cached detection pass (tiny PaliGemma) and Table 18 beside the paper."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import REPO, make_tiny_benchmark
from tiny_vlms import save_tiny_paligemma

from mubench.benchmark.tables import write_table
from mubench.config import ConfigError
from mubench.answering.detection import (
    PALIGEMMA,
    QWEN_VL,
    detect_benchmark,
    detection_models,
    detection_protocol,
    parse_paligemma,
    parse_qwen_vl,
)
from mubench.figures.table18 import build_table18, read_reference
from mubench.models import ModelSpec, load_model


def spec(name, family, model_id, **extra):
    return ModelSpec.from_config(dict(name=name, family=family, model_id=model_id, dtype="float32", **extra))


def test_paligemma_parser_reads_yxyx_on_a_1024_grid():
    text = "<loc0256><loc0512><loc0768><loc1023> cell ; <loc0000><loc0000><loc0512><loc0512> cell"
    assert parse_paligemma(text, 200, 100) == [[100.0, 25.0, 199.8046875, 75.0], [0.0, 0.0, 100.0, 50.0]]
    segment = "<loc0100><loc0200><loc0300><loc0400><seg012><seg055> cell; <loc0001><loc0002><loc0003> cell"
    assert parse_paligemma(segment, 1024, 1024) == [[200.0, 100.0, 400.0, 300.0]]  # 3 locs: no box
    assert parse_paligemma("cell", 64, 64) == []


def test_qwen_parser_reads_xyxy_on_a_1000_grid():
    text = "<ref>cell</ref><box>(100,200),(500,600)</box> and <box>( 0, 0 ),(1000,1000)</box>"
    assert parse_qwen_vl(text, 300, 200) == [[30.0, 40.0, 150.0, 120.0], [0.0, 0.0, 300.0, 200.0]]
    assert parse_qwen_vl("<box>(1,2)</box> no box here", 300, 200) == []


def test_only_families_with_a_box_format_take_part():
    models = {"Pali": spec("Pali", "paligemma", "google/paligemma-3b-mix-224"),
              "Qwen": spec("Qwen", "hf_remote_code", "Qwen/Qwen-VL-Chat", trust_remote_code=True),
              "Cog": spec("Cog", "hf_remote_code", "THUDM/cogvlm-chat-hf", trust_remote_code=True)}
    assert detection_protocol(models["Pali"]) is PALIGEMMA and detection_protocol(models["Qwen"]) is QWEN_VL
    assert detection_models(["Pali", "Qwen"], models) == {"Pali": models["Pali"], "Qwen": models["Qwen"]}
    with pytest.raises(ConfigError, match=r"detection.models\[0\]: 'Cog'.*cannot localize"):
        detection_models(["Cog"], models)
    with pytest.raises(ConfigError, match="'Nope' is not a configured model"):
        detection_models(["Nope"], models)


class Scripted:
    """A generative model answering from a fixed table of prompt → response, recording what it was asked."""

    def __init__(self, answers):
        self.answers, self.asked = answers, []

    def generate(self, images, prompts, n_options):
        self.asked += list(prompts)
        for i, prompt in enumerate(prompts):
            yield i, self.answers.get(prompt, "nothing"), None


class Counting(Scripted):
    def __init__(self, model):
        super().__init__({})
        self.model = model

    def generate(self, images, prompts, n_options):
        self.asked += list(prompts)
        return self.model.generate(images, prompts, n_options)


@pytest.fixture
def detection_bench(tmp_path):
    """The tiny benchmark (48 × 48 images) with four detection rows in two datasets."""
    root = make_tiny_benchmark(tmp_path / "bench", n_images=3)
    rows = pd.DataFrame(dict(
        image_id=["img000", "img001", "img002", "img002"],
        dataset=["burgess_et_al_2024_contour", "burgess_et_al_2024_contour", "wu_et_al_2023", "wu_et_al_2023"],
        class_name=["cell", "cell", "mitochondria", "gland"],
        boxes=[[[0.0, 0.0, 24.0, 24.0]], [[12.0, 12.0, 36.0, 36.0]], [[0.0, 0.0, 48.0, 48.0]], []],
        difficulty=["easy", "easy", "hard", "hard"],
    ))
    write_table(rows, "detection", root / "detection.parquet")
    return root


def test_retry_prompt_only_for_unparsed_rows_and_exact_scores(detection_bench, tmp_path):
    model = Scripted({"detect cell": "<loc0000><loc0000><loc0512><loc0512> cell",
                      "segment mitochondria; mitochondria": "<loc0000><loc0000><loc1024><loc1024> mitochondria"})
    pali = spec("Pali", "paligemma", "unused", paper_name="PaliGemma")
    table = detect_benchmark(pali, detection_bench, cache_dir=tmp_path / "cache", batch_size=2, model=model)
    assert sorted(model.asked) == sorted(["detect cell"] * 2 + ["detect mitochondria", "detect gland",
                                          "segment mitochondria; mitochondria", "segment gland; gland"])
    assert table["pred_boxes"].tolist()[0] == [[0.0, 0.0, 24.0, 24.0]]
    assert table["parsed"].tolist() == [True, True, True, False]
    assert table["response"].iloc[3] == "nothing" and table["prompt_version"].iloc[0] == "detect-v1"
    reference = read_reference(REPO / "paper_figures" / "reference" / "paper_table18_detection.csv")
    out = build_table18(table, [pali], reference)
    contour = out[out["dataset"] == "burgess_et_al_2024_contour"].iloc[0]
    # img000 matches exactly, img001's [12,12,36,36] overlaps the predicted [0,0,24,24] by 144 / 1008
    assert contour["grit"] == pytest.approx(100 * (1 + 144 / 1008) / 2, abs=0.01)
    assert (contour["paper_dataset"], contour["paper_grit"]) == ("PCST-Contour", 76.5)
    assert out["split"].tolist() == ["easy", "hard", "hard"]
    assert out.loc[out["class_name"] == "gland", "paper_grit"].isna().all()  # GlaS is not wu_et_al_2023


def test_tiny_paligemma_end_to_end_is_cached(detection_bench, tmp_path):
    pali = spec("tiny-pali", "paligemma", str(save_tiny_paligemma(tmp_path / "pali")), max_new_tokens=8)
    model = Counting(load_model(pali))
    first = detect_benchmark(pali, detection_bench, cache_dir=tmp_path / "cache", batch_size=4, model=model)
    assert len(first) == 4 and list(first.columns[:8]) == ["image_id", "dataset", "class_name", "difficulty",
                                                          "pred_boxes", "gt_boxes", "response", "parsed"]
    assert 4 <= len(model.asked) <= 8  # one prompt per row, the retry only for rows without a box
    again = Counting(model.model)
    second = detect_benchmark(pali, detection_bench, cache_dir=tmp_path / "cache", batch_size=4, model=again)
    assert again.asked == []
    pd.testing.assert_frame_equal(first, second)
    table = build_table18(first, [pali], pd.DataFrame(columns=["split", "paper_dataset", "class_name",
                                                               "paper_name", "paper_grit"]))
    assert table["grit"].between(0, 100).all() and table["n_images"].sum() == 4
