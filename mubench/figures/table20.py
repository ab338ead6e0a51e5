"""Appendix Table 20: Table 1 restricted to the pathology domain (the images' ``domain`` column), with CIs."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mubench.figures.table1 import TABLE1_COLUMNS, build_table1
from mubench.models.spec import ModelSpec
from mubench.scoring.accuracy import domain_scope

PATHOLOGY = "pathology"
TABLE20_COLUMNS = [*TABLE1_COLUMNS, "paper_uncertain"]


def build_table20(scores: pd.DataFrame, models: Sequence[ModelSpec], subsets: Sequence[str],
                  reference: pd.DataFrame) -> pd.DataFrame:
    """Table 1's columns on the ``domain=pathology`` rows, for every subset with pathology questions, beside the
    paper's Table 20 (``paper_uncertain`` = 1 where the published value was hard to read, see its reference file).
    Empty when the benchmark has no pathology-domain question."""
    if not scores["scope"].astype(str).str.startswith("domain=").any():
        raise ValueError("the scores have no domain scopes: the prediction rows lack the image attributes "
                         "(domain, subdomain, modality, submodality, stain)")
    scope = domain_scope(PATHOLOGY)
    totals = scores[(scores["scope"] == scope) & (scores["level"] == "total") & (scores["n"] > 0)]
    present = [s for s in subsets if s in set(totals["subset"])]
    if not present:
        return pd.DataFrame(columns=TABLE20_COLUMNS)
    table = build_table1(scores, models, present, reference, scope=scope)
    published = reference.set_index(["subset", "model"])["uncertain"]
    paper_names = {spec.label: spec.paper_name for spec in models}
    table["paper_uncertain"] = pd.array([published.get((s, paper_names[m])) for s, m in
                                         zip(table["subset"], table["model"])], dtype="Int64")
    return table[TABLE20_COLUMNS]


def pathology_note(images: pd.DataFrame) -> str:
    """Which images Table 20 covers, counted from the benchmark's images table."""
    pathology = images[images["domain"].fillna("").str.strip().str.casefold() == PATHOLOGY]
    datasets = sorted(pathology["dataset"].unique())
    return (f"pathology = images whose `domain` is {PATHOLOGY!r} in images.parquet: {len(pathology)} of "
            f"{len(images)} images, datasets: {', '.join(datasets) or 'none'}")
