"""Appendix Table 18: GRIT localization per split, dataset, class and model, beside the paper's values."""

from __future__ import annotations

import pandas as pd

from mubench.figures.paper_table import PaperTable, layout, show
from mubench.scoring.grit import aggregate, score_rows

# The paper's display names for the benchmark's detection datasets (DESIGN §2); other datasets (e.g. the demo's)
# get no paper value.
PAPER_DATASETS = {
    "burgess_et_al_2024_contour": "PCST-Contour",
    "burgess_et_al_2024_eccentricity": "PCST-Eccentricity",
    "burgess_et_al_2024_texture": "PCST-Texture",
    "held_et_al_2010_galt": "CellCognition (Golgi)",
    "held_et_al_2010_h2b": "CellCognition (H2B)",
    "held_et_al_2010_mt": "CellCognition (Mt)",
    "opencell": "OpenCell",
    "wu_et_al_2023": "Wu et al 2023",
    "sirinukunwattana_et_al_2016": "GlaS Challenge",
}
COLUMNS = ["split", "dataset", "class_name", "paper_dataset", "model", "label", "n_images", "n_unparsed",
           "grit", "paper_grit", "difference"]


def read_reference(path) -> pd.DataFrame:
    """The published table, long: split, paper_dataset, class_name, paper_name, paper_grit (percent)."""
    wide = pd.read_csv(path, comment="#")
    return (wide.rename(columns={"dataset": "paper_dataset", "class": "class_name"})
            .melt(id_vars=["split", "paper_dataset", "class_name"], var_name="paper_name", value_name="paper_grit"))


def build_table18(detections: pd.DataFrame, models, reference: pd.DataFrame) -> pd.DataFrame:
    """Mean GRIT (percent) per split × dataset × class × model; paper columns where the row maps to the paper's."""
    scored = detections.assign(grit=score_rows(detections))
    table = aggregate(scored).rename(columns={"difficulty": "split"})
    table["grit"] = 100 * table["grit"]
    by_name = {spec.name: spec for spec in models}
    table["label"] = table["model"].map(lambda m: by_name[m].label)
    table["paper_name"] = table["model"].map(lambda m: by_name[m].paper_name)
    table["paper_dataset"] = table["dataset"].map(PAPER_DATASETS)
    table = table.merge(reference, on=["split", "paper_dataset", "class_name", "paper_name"], how="left")
    table["difference"] = table["grit"] - table["paper_grit"]
    return table.sort_values(["split", "dataset", "class_name", "model"]).round(2)[COLUMNS].reset_index(drop=True)


def printed_table18(table: pd.DataFrame, title: str, notes, source: str) -> PaperTable:
    """Table 18 as a paper prints it: per split, each dataset, class and model with its GRIT beside the paper's."""
    specs = [show("dataset", "Dataset"), show("class_name", "Class"), show("label", "Model"),
             show("n_images", "Images"), show("n_unparsed", "Unparsed"), show("grit", "GRIT"),
             show("paper_grit", "Paper")]
    return layout(table, specs, title, notes, group_by="split", source=source,
                  group_names=lambda split: f"{split.capitalize()} split")
