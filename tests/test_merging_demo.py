"""The demo shows the paper's merging phenomenon: tuning on pathology gains there and forgets elsewhere; merging
recovers. Reads the shared demo run's predictions of the config's two tiny CLIPs (trained by the workflow, about a
CPU minute) and of their merges, on the demo's held-out (val + test) images. Asserts directions, not numbers.
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import workflow_config

from mubench.scoring.accuracy import BootstrapSettings
from mubench.scoring.slices import NON_PATHOLOGY, PATHOLOGY, held_out, slice_accuracy
from mubench.analyses.merging.plan import merge_plan

ALPHAS = (0.25, 0.5, 0.75)


@pytest.fixture(scope="module")
def accuracy(demo_run) -> pd.DataFrame:
    config = workflow_config()
    results = demo_run / "results" / config["benchmark"]["name"]
    plan = merge_plan(config, {}, str(results))
    pair = plan.pairs[0]
    models = {"base": pair["base"], "tuned": pair["tuned"]}
    for alpha in ALPHAS:
        models[alpha] = next(name for name, m in plan.merged.items() if m.pair == pair["name"] and m.alpha == alpha)
    predictions = pd.concat([
        pd.read_parquet(results / "predictions" / name / f"{subset}.parquet").assign(model=str(key))
        for key, name in models.items() for subset in ("coarse", "fine")
    ])
    images = pd.read_parquet(results / "benchmark" / "images.parquet")
    predictions = held_out(predictions, images, config["merging"]["eval_splits"])
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
