"""The demo shows the paper's merging phenomenon: tuning on pathology gains there and forgets elsewhere; merging
recovers. Trains the config's two tiny CLIPs (about a CPU minute) and scores them with the normal inference path
on the demo's held-out (val + test) images. Asserts directions, not numbers.
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import workflow_config

from mubench.benchmark.demo import build_demo
from mubench.scoring.accuracy import BootstrapSettings
from mubench.scoring.slices import NON_PATHOLOGY, PATHOLOGY, held_out, slice_accuracy
from mubench.answering.predict import predict_subset
from mubench.analyses.merging.plan import merge_plan
from mubench.analyses.merging.weights import write_merged_model

ALPHAS = (0.25, 0.5, 0.75)


@pytest.fixture(scope="module")
def accuracy(tmp_path_factory) -> pd.DataFrame:
    config = workflow_config()
    root = tmp_path_factory.mktemp("merging_demo")
    bench = root / "benchmark"
    build_demo(bench, seed=config["benchmark"]["seed"], **config["benchmark"]["demo"])
    plan = merge_plan(config, {}, str(root))
    pair = plan.pairs[0]
    base, tuned = (plan.trained[pair[role]] for role in ("base", "tuned"))
    from mubench.analyses.merging.demo_clip import train_demo_clip

    for trained in (base, tuned):
        init = root / "merging/trained" / trained.init if trained.init else None
        train_demo_clip(trained.architecture, bench, trained.settings,
                        trained.spec.architecture.removeprefix("local-dir:"), init_dir=init)
    specs = {"base": base.spec, "tuned": tuned.spec}
    for alpha in ALPHAS:
        merged = next(m for m in plan.merged.values() if m.pair == pair["name"] and m.alpha == alpha)
        write_merged_model(base.spec, tuned.spec, alpha, merged.spec.architecture.removeprefix("local-dir:"))
        specs[alpha] = merged.spec
    predictions = pd.concat([
        predict_subset(spec, bench, subset, cache_dir=root / "cache" / spec.name / subset, batch_size=128,
                       device="cpu").assign(model=str(key))
        for key, spec in specs.items() for subset in ("coarse", "fine")
    ])
    predictions = held_out(predictions, pd.read_parquet(bench / "images.parquet"), config["merging"]["eval_splits"])
    table = slice_accuracy(predictions, config["merging"]["slices"], BootstrapSettings(**config["bootstrap"]))
    return table.set_index(["model", "subset", "slice"])["accuracy"]


@pytest.mark.parametrize("subset", ["coarse", "fine"])
def test_tuned_gains_on_pathology_and_loses_elsewhere(accuracy, subset):
    assert accuracy[("tuned", subset, PATHOLOGY)] > accuracy[("base", subset, PATHOLOGY)]
    assert accuracy[("tuned", subset, NON_PATHOLOGY)] < accuracy[("base", subset, NON_PATHOLOGY)]


@pytest.mark.parametrize("subset", ["coarse", "fine"])
def test_some_merge_recovers_outside_pathology(accuracy, subset):
    tuned = accuracy[("tuned", subset, NON_PATHOLOGY)]
    assert any(accuracy[(str(a), subset, NON_PATHOLOGY)] > tuned for a in ALPHAS), \
        f"no α in {ALPHAS} beats the tuned model outside pathology"


def test_the_papers_alpha_keeps_most_of_the_pathology_gain_on_coarse(accuracy):
    base, tuned = (accuracy[(m, "coarse", PATHOLOGY)] for m in ("base", "tuned"))
    assert accuracy[("0.5", "coarse", PATHOLOGY)] > (base + tuned) / 2
