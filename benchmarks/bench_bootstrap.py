"""Time mubench.scoring.accuracy's bootstrap CIs against scipy.stats.bootstrap on the same groups.

accuracy_table computes both intervals of every group: the binomial row bootstrap (compared with SciPy) and the
image-clustered one (images resampled with all their questions). The paired comparisons of every two models
(mubench.scoring.paired) are timed too. The result set is synthetic but full-size (μ-Bench: ~96,000 question rows
per model: five coarse types per image, one fine question per image, ~100 cognition questions). Run from the repo
root:
    python benchmarks/bench_bootstrap.py [--models 12] [--rows 96000] [--scipy-groups 60]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mubench.config import section_with_defaults  # noqa: E402
from mubench.scoring.accuracy import BootstrapSettings, accuracy_table  # noqa: E402
from mubench.scoring.paired import paired_comparisons  # noqa: E402

FINE_DATASETS = (
    "acevedo_et_al_2020", "burgess_et_al_2024_contour", "burgess_et_al_2024_eccentricity",
    "burgess_et_al_2024_texture", "empiar_sbfsem", "colocalization_benchmark",
    "eulenberg_et_al_2017_brightfield", "eulenberg_et_al_2017_darkfield",
    "eulenberg_et_al_2017_epifluorescence", "held_et_al_2010_galt", "held_et_al_2010_h2b",
    "held_et_al_2010_mt", "hussain_et_al_2019", "icpr2020_pollen", "jung_et_al_2022",
    "kather_et_al_2016", "kather_et_al_2018", "kather_et_al_2018_val7k", "nirschl_et_al_2018",
    "nirschl_unpub_fluorescence", "tang_et_al_2019", "wong_et_al_2022", "wu_et_al_2023",
)  # fmt: skip
COARSE_TYPES = ("modality", "submodality", "domain", "subdomain", "stain")
COGNITION_ROWS = 100
SCIPY_MAX_BATCH_ELEMENTS = 5_000_000  # resampled values per SciPy batch: bounds its memory


def synthetic_predictions(models: int, rows_per_model: int, seed: int) -> pd.DataFrame:
    """One shared question set, images spread unevenly over datasets; accuracies differ by model."""
    rng = np.random.default_rng(seed)
    images = max((rows_per_model - COGNITION_ROWS) // (len(COARSE_TYPES) + 1), len(FINE_DATASETS))
    weights = rng.dirichlet(np.full(len(FINE_DATASETS), 2.0))
    image_dataset = rng.choice(len(FINE_DATASETS), size=images, p=weights)
    cognition_dataset = rng.choice(4, size=COGNITION_ROWS)  # cognition draws on a few datasets
    subset = np.repeat(["coarse", "fine", "cognition"], [images * 5, images, COGNITION_ROWS])
    qtype = np.concatenate([np.repeat(COARSE_TYPES, images), np.repeat("classification", images),
                            np.repeat("cognition", COGNITION_ROWS)])  # fmt: skip
    dataset = np.concatenate([np.tile(image_dataset, 6), cognition_dataset])
    image_id = np.concatenate([np.tile(np.arange(images), 6), np.arange(COGNITION_ROWS)])
    all_types = [*COARSE_TYPES, "classification", "cognition"]
    type_offset = dict(zip(all_types, rng.normal(0, 0.1, len(all_types))))
    base = np.vectorize(type_offset.get)(qtype) + rng.normal(0, 0.1, len(FINE_DATASETS))[dataset]
    frames = []
    for model in range(models):
        p_correct = np.clip(0.2 + 0.05 * model + base, 0.02, 0.98)
        frames.append(pd.DataFrame({
            "model": f"model_{model:02d}", "subset": subset, "question_type": qtype,
            "dataset": np.asarray(FINE_DATASETS)[dataset], "image_id": image_id,
            "question_id": np.arange(len(subset)), "correct": rng.random(len(subset)) < p_correct,
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def component_counts(table: pd.DataFrame) -> list[tuple[list[int], list[int]]]:
    """(k, n) per component of every table row SciPy can bootstrap (it needs >= 2 rows a sample)."""
    groups = []
    for row in table[table.n > 0].itertuples():
        if row.level.startswith("macro_"):
            level = row.level.removeprefix("macro_")
            same_pair = (table.model == row.model) & (table.subset == row.subset)
            parts = table[same_pair & (table.scope == row.scope) & (table.level == level)]
            k, n = list(parts.n_correct), list(parts.n)
        else:
            k, n = [row.n_correct], [row.n]
        if min(n) >= 2:
            groups.append((k, n))
    return groups


def scipy_seconds(k: list[int], n: list[int], n_resamples: int, seed: int) -> float:
    """Wall time of scipy.stats.bootstrap on the 0/1 rows (stratified when there are components)."""
    samples = tuple(np.r_[np.ones(a), np.zeros(b - a)] for a, b in zip(k, n))

    def mean_of_means(*xs, axis):
        return np.mean([np.mean(x, axis=axis) for x in xs], axis=0)

    batch = max(1, SCIPY_MAX_BATCH_ELEMENTS // sum(n))
    start = time.perf_counter()
    stats.bootstrap(samples, mean_of_means, method="basic", n_resamples=n_resamples,
                    batch=batch, rng=np.random.default_rng(seed))  # fmt: skip
    return time.perf_counter() - start


def measure(models: int, rows: int, scipy_groups: int, n_resamples: int, seed: int, threads: int = 1) -> dict:
    """Seconds for all CIs with mubench (``threads`` groups at a time) and (measured or extrapolated) with SciPy,
    on the same groups."""
    predictions = synthetic_predictions(models, rows, seed)
    schema = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
    settings = BootstrapSettings(**section_with_defaults(schema, "bootstrap", dict(n_resamples=n_resamples, seed=seed)))
    excluded = section_with_defaults(schema, "report", {})["excluded_datasets"]  # as the workflow's score jobs
    start = time.perf_counter()
    table = accuracy_table(predictions, bootstrap=settings, excluded_datasets=excluded, threads=threads)
    ours = time.perf_counter() - start

    groups = component_counts(table)
    group_rows = np.array([sum(n) for _, n in groups])
    chosen = np.random.default_rng(seed).permutation(len(groups))[:scipy_groups]
    measured = sum(scipy_seconds(*groups[i], n_resamples, seed) for i in chosen)
    if len(chosen) == len(groups):
        scipy_total = measured
        how = [f"measured on all {len(groups):,} groups"]
    else:
        scipy_total = measured * group_rows.sum() / group_rows[chosen].sum()
        per_group = measured * len(groups) / len(chosen)
        how = [
            f"EXTRAPOLATED from {len(chosen)} random groups of {len(groups):,} ({measured:.1f} s),",
            "scaled by resampled rows (SciPy's cost is linear in rows);",
            f"scaling per group instead would give {per_group:,.0f} s",
        ]
    labels = [(name, name) for name in sorted(predictions["model"].unique())]
    start = time.perf_counter()
    pairs = paired_comparisons(predictions.astype({"question_id": str}), labels,
                               subsets=["coarse", "fine", "cognition"], bootstrap=settings)
    paired = time.perf_counter() - start
    return dict(rows=len(predictions), models=models, threads=threads, table_rows=len(table), groups=len(groups),
                ours_s=ours, scipy_s=scipy_total, scipy_groups_timed=len(chosen), how=how, paired_s=paired,
                pairs=len(pairs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--rows", type=int, default=96_000, help="question rows per model")
    parser.add_argument("--scipy-groups", type=int, default=60,
                        help="groups timed with SciPy; the rest is extrapolated")  # fmt: skip
    parser.add_argument("--n-resamples", type=int, default=9999)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="groups resampled at once (same intervals)")
    args = parser.parse_args()

    result = measure(args.models, args.rows, args.scipy_groups, args.n_resamples, args.seed, args.threads)
    ours, speedup = result["ours_s"], result["scipy_s"] / result["ours_s"]
    indent = "\n" + " " * 20
    print(
        f"\nbootstrap CI benchmark  (method=basic, {args.n_resamples:,} resamples)\n"
        f"  prediction rows : {result['rows']:,}  ({args.models} models x {result['rows'] // args.models:,})\n"
        f"  CI groups       : {result['table_rows']:,} table rows, {result['groups']:,} SciPy can run\n"
        f"  mubench.scoring.accuracy : {ours:8.2f} s   all CIs (rows and images), from prediction rows, "
        f"{args.threads} thread(s)\n"
        f"  paired comparisons : {result['paired_s']:8.2f} s   {result['pairs']} (pair, subset) rows\n"
        f"  scipy bootstrap : {result['scipy_s']:8.1f} s{indent}{indent.join(result['how'])}\n"
        f"  speed-up        : {speedup:8.0f} x\n"
        f"  targets         : ours < 5 s [{'ok' if ours < 5 else 'MISSED'}],"
        f" >= 100 x [{'ok' if speedup >= 100 else 'MISSED'}]"
    )


if __name__ == "__main__":
    main()
