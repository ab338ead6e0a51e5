"""Weight merging: interpolation, refusal messages, HF ↔ open_clip conversion, the config plan, merged folders."""

from __future__ import annotations

import copy

import open_clip
import pytest
import torch
import transformers
import yaml
from conftest import REPO, copy_workflow, load_bindings, snakemake, with_merging_defaults

from mubench.config import ConfigError
from mubench.analyses.merging.plan import merge_plan, merged_name
from mubench.analyses.merging.convert import (
    MergeError,
    check_mergeable,
    hf_clip_to_open_clip,
    interpolate,
    open_clip_config_from_hf,
    open_clip_to_hf_clip,
    to_layout,
)
from mubench.models.spec import ModelSpec


def _pair(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    base = {"w": torch.randn(3, 4, generator=g), "b": torch.randn(4, generator=g), "step": torch.tensor([7])}
    tuned = {"w": torch.randn(3, 4, generator=g), "b": torch.randn(4, generator=g), "step": torch.tensor([7])}
    return base, tuned


def test_alpha_one_is_base_zero_is_tuned_half_is_mean():
    base, tuned = _pair()
    for key in ("w", "b"):
        assert torch.equal(interpolate(base, tuned, 1.0)[key], base[key])
        assert torch.equal(interpolate(base, tuned, 0.0)[key], tuned[key])
        assert torch.allclose(interpolate(base, tuned, 0.5)[key], (base[key] + tuned[key]) / 2, atol=1e-7)
        assert torch.allclose(interpolate(base, tuned, 0.3)[key], 0.3 * base[key] + 0.7 * tuned[key], atol=1e-6)
    assert torch.equal(interpolate(base, tuned, 0.5)["step"], base["step"])


def test_interpolation_keeps_the_tuned_dtype():
    base, tuned = _pair()
    half = {k: v.half() if v.is_floating_point() else v for k, v in tuned.items()}
    assert interpolate(base, half, 0.5)["w"].dtype == torch.float16


def test_mismatched_keys_and_shapes_are_listed():
    base, tuned = _pair()
    tuned = dict(tuned, extra=torch.zeros(1), w=torch.zeros(4, 4))
    del tuned["b"]
    with pytest.raises(MergeError) as err:
        check_mergeable(base, tuned, names=("CLIP", "PLIP"))
    message = str(err.value)
    assert "1 keys only in CLIP: b" in message
    assert "1 keys only in PLIP: extra" in message
    assert "w (3, 4) vs (4, 4)" in message


def test_long_mismatch_lists_are_truncated_with_a_count():
    base = {f"k{i:02d}": torch.zeros(1) for i in range(20)}
    with pytest.raises(MergeError, match=r"20 keys only in base: k00, .* and 12 more"):
        check_mergeable(base, {})


def test_unequal_integer_buffers_and_bad_alpha_are_refused():
    base, tuned = _pair()
    with pytest.raises(MergeError, match="non-float tensor 'step'"):
        interpolate(base, dict(tuned, step=torch.tensor([8])), 0.5)
    with pytest.raises(MergeError, match="alpha must lie in"):
        interpolate(base, tuned, 1.5)


def tiny_hf_clip(seed: int = 0):
    config = transformers.CLIPConfig(
        text_config={"vocab_size": 100, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                         "num_attention_heads": 4, "max_position_embeddings": 16, "bos_token_id": 98, "eos_token_id": 99,
                         "pad_token_id": 0},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                           "image_size": 32, "patch_size": 8},
        projection_dim=24,
    )
    torch.manual_seed(seed)
    return transformers.CLIPModel(config).eval()


def _features(output):
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def test_hf_open_clip_round_trip_is_exact():
    state = tiny_hf_clip().state_dict()
    back = open_clip_to_hf_clip(hf_clip_to_open_clip(state))
    assert set(back) == set(state)
    assert all(torch.equal(back[k], state[k]) for k in state)


def test_converted_open_clip_model_gives_the_same_embeddings():
    hf = tiny_hf_clip()
    oc = open_clip.model.CLIP(**open_clip_config_from_hf(hf.config)).eval()
    oc.load_state_dict(to_layout(hf.state_dict(), "hf_clip", "open_clip"), strict=True)
    pixels = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    # open_clip pools the highest token id (EOT); HF the first eos_token_id: the same position here.
    tokens = torch.tensor([[98, 5, 6, 7, 99] + [0] * 11, [98, 50, 99] + [0] * 13, [98] + list(range(10, 24)) + [99]])
    with torch.no_grad():
        torch.testing.assert_close(oc.encode_image(pixels), _features(hf.get_image_features(pixel_values=pixels)),
                                   atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(oc.encode_text(tokens), _features(hf.get_text_features(input_ids=tokens)),
                                   atol=1e-5, rtol=1e-5)


def test_conversion_refuses_foreign_checkpoints():
    state = dict(tiny_hf_clip().state_dict(), **{"text_model.adapter.weight": torch.zeros(2)})
    with pytest.raises(MergeError, match="unknown keys: text_model.adapter.weight"):
        hf_clip_to_open_clip(state)
    with pytest.raises(MergeError, match="no key conversion"):
        to_layout({}, "hf_clip", "conch")


def test_merging_converted_hf_into_open_clip_layout_matches_merging_in_hf_layout():
    base, tuned = tiny_hf_clip(0).state_dict(), tiny_hf_clip(1).state_dict()
    in_hf = interpolate(base, tuned, 0.25)
    in_oc = interpolate(hf_clip_to_open_clip(base), hf_clip_to_open_clip(tuned), 0.25)
    assert all(torch.allclose(v, hf_clip_to_open_clip(in_hf)[k]) for k, v in in_oc.items())


PAIR_CONFIG = {
    "benchmark": {"name": "demo", "source": "demo", "seed": 0},
    "subsets": ["coarse", "fine"],
    "merging": {
        "alphas": [0, 0.5, 1], "slices": {"pathology": ["a"], "he": ["a"]},
        "train": {"architecture": "mubench-tinyclip-ViT", "models": [
            {"name": "Gen", "steps": 2, "lr": 0.01},
            {"name": "Spec", "init": "Gen", "datasets": ["a"], "steps": 2, "lr": 0.01},
        ]},
        "pairs": [{"name": "M-Spec", "base": "Gen", "tuned": "Spec"},
                  {"name": "M-PLIP", "base": "OpenCLIP", "tuned": "PLIP"}],
    },
}
CONFIGURED = {
    "OpenCLIP": ModelSpec.from_config({"name": "OpenCLIP", "family": "open_clip", "architecture": "ViT-B-32",
                                       "pretrained": "laion2b_s34b_b79k"}),
    "PLIP": ModelSpec.from_config({"name": "PLIP", "family": "hf_clip", "model_id": "vinid/plip",
                                   "context_length": 77}),
}


def test_plan_registers_trained_and_merged_models_as_ordinary_specs():
    plan = merge_plan(with_merging_defaults(PAIR_CONFIG), CONFIGURED, "results/demo")
    assert list(plan.trained) == ["Gen", "Spec"]
    assert plan.trained["Spec"].settings.datasets == ("a",)
    assert plan.trained["Gen"].spec.architecture == "local-dir:results/demo/merging/trained/Gen"
    merged = plan.merged[merged_name("M-PLIP", 0.5)]
    assert (merged.base, merged.tuned, merged.alpha) == ("OpenCLIP", "PLIP", 0.5)
    # the merged model keeps the tuned model's family, tokenizer/preprocessing settings, and reads its own folder
    assert merged.spec.family == "hf_clip" and merged.spec.context_length == 77
    assert merged.spec.model_id == "results/demo/merging/models/M-PLIP-a0.5"
    assert merged.spec.paper_name == "M-PLIP" and plan.merged["M-PLIP-a1"].spec.paper_name == "M-PLIP-a1"
    assert len({m.spec.fingerprint for m in plan.merged.values()}) == len(plan.merged) == 6


def test_plan_fingerprints_follow_the_parents():
    changed = copy.deepcopy(PAIR_CONFIG)
    changed["merging"]["train"]["models"][0]["steps"] = 3
    before = merge_plan(with_merging_defaults(PAIR_CONFIG), CONFIGURED, "results/demo")
    after = merge_plan(with_merging_defaults(changed), CONFIGURED, "results/demo")
    for name in ("Spec", "M-Spec-a0.5"):  # a retrained base changes its child and every merge of it
        assert before.specs[name].fingerprint != after.specs[name].fingerprint
    assert before.specs["M-PLIP-a0.5"].fingerprint == after.specs["M-PLIP-a0.5"].fingerprint


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["pairs"].append({"name": "X", "base": "Nope", "tuned": "PLIP"}), "pairs\\[2\\].base: 'Nope'"),
    (lambda m: m["train"]["models"][1].update(init="Later"), "init: 'Later' is not a trained model"),
    (lambda m: m["train"]["models"][0].update(name="PLIP"), "'PLIP' is already a model name"),
    (lambda m: m.update(report_alpha=0.25), "report_alpha: 0.25 is not one of merging.alphas"),
    (lambda m: m.update(subsets=["fine", "cognition"]), "merging.subsets\\[1\\]: 'cognition' is not one of"),
])
def test_plan_errors_name_the_key(edit, message):
    config = copy.deepcopy(PAIR_CONFIG)
    edit(config["merging"])
    with pytest.raises(ConfigError, match=message):
        merge_plan(with_merging_defaults(config), CONFIGURED, "results/demo")


@pytest.mark.workflow
def test_merging_subset_outside_subsets_stops_the_dry_run(tmp_path):
    """It used to be dropped without a word: Table 19 then silently lacked the subset the user asked for."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["subsets"] = ["coarse"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))  # merging.subsets is still [coarse, fine]
    result = snakemake(tmp_path, "-n", "--snakefile", str(REPO / "Snakefile"), "--configfile",
                       str(tmp_path / "config.yaml"), check=False)
    assert result.returncode != 0
    assert "merging.subsets[1]: 'fine' is not one of the evaluated subsets ['coarse']" in result.stdout + result.stderr


@pytest.mark.workflow
def test_merging_subset_this_benchmark_lacks_is_named_in_table19(tmp_path):
    """configs/paper.yaml merges over cognition too; uBench without its cognition folder has none, so Table 19's
    notes (and the log) say why the subset is missing instead of dropping it without a word."""
    workdir = copy_workflow(tmp_path)  # the API works in the Snakefile's folder: never the checkout
    jobs = load_bindings().planned_jobs(workdir / "Snakefile", [workdir / "configs/paper.yaml"], ["merging_figures"])
    [figures] = [job for job in jobs if job.rule.name == "merging_figures"]
    assert figures.params.subsets == ["coarse", "fine"]
    assert figures.params.not_evaluated == {"cognition": "no cognition set: `benchmark.ubench.cognition_path` is "
                                                         "null (the expert cognition set is not public)"}


def test_merged_open_clip_folder_loads_through_the_registry(tmp_path):
    """Two random tiny open_clip models merged into a local-dir folder the open_clip family loads unchanged."""
    from mubench.analyses.merging.weights import write_merged_model
    from mubench.models import load_model

    specs = [ModelSpec.from_config({"name": f"R{s}", "family": "open_clip", "architecture": "mubench-tinyclip-ViT",
                                    "pretrained": None, "seed": s}) for s in (0, 1)]
    record = write_merged_model(specs[0], specs[1], 0.5, tmp_path / "m")
    assert record["layout"] == "open_clip" and not record["converted"]
    merged = load_model(ModelSpec.from_config({"name": "M", "family": "open_clip",
                                               "architecture": f"local-dir:{tmp_path / 'm'}"}))
    parents = [load_model(s).model.state_dict() for s in specs]
    for key, value in merged.model.state_dict().items():
        torch.testing.assert_close(value, (parents[0][key] + parents[1][key]) / 2)
