"""What the benchmark holds (appendix C: Tables 3, 4, 6–11, Fig. 3), counted from images/questions/detection tables.

Perception tables count images that have a coarse or fine question; cognition tables count cognition questions
by their image's attributes. Where the benchmark is uBench, the paper's published count is put beside ours
(matched on the name with case, spaces and punctuation ignored; paper rows we do not have are listed too).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from mubench.figures.paper_table import PaperTable, humanise, layout, show
from mubench.scoring.accuracy import UNKNOWN_ATTRIBUTE

# The paper's Table 4 groups uBench datasets into tasks. Derived from the paper: each task's image count equals
# the sum of its datasets' totals in Table 14 (tests/test_composition.py checks every sum). The paper's "Cell
# segmentation in synthetic images" (600 images) is one of the three PCST datasets; which one is not printed, so
# all three map to it and the table shows the difference.
CLASSIFICATION_TASKS = {
    "Cell cycle phase": ["eulenberg_et_al_2017_brightfield", "eulenberg_et_al_2017_darkfield",
                         "eulenberg_et_al_2017_epifluorescence", "held_et_al_2010_galt", "held_et_al_2010_h2b",
                         "held_et_al_2010_mt"],
    "Normal and abnormal tissues in colorectal adenocarcinoma or normal gastrointestinal tissue":
        ["kather_et_al_2018", "kather_et_al_2018_val7k"],
    "White blood cell": ["acevedo_et_al_2020", "jung_et_al_2022"],
    "Cell phenotypes in synthetic images": ["burgess_et_al_2024_contour", "burgess_et_al_2024_eccentricity",
                                            "burgess_et_al_2024_texture"],
    "Amyloid beta pathology": ["wong_et_al_2022", "tang_et_al_2019"],
    "Subcellular structures": ["opencell"],
    "Texture in colorectal cancer": ["kather_et_al_2016"],
    "Organisms and structures in fluorescence microscopy images": ["nirschl_unpub_fluorescence"],
    "Organisms and structures in electron microscopy images": ["empiar_sbfsem", "wu_et_al_2023"],
    "Normal and abnormal pollen grains": ["icpr2020_pollen"],
    "Heart failure using cardiac histopathology images": ["nirschl_et_al_2018"],
    "Pre-cancerous and cervical cancer lesions in liquid-based cytology Pap smear images": ["hussain_et_al_2019"],
    "Colocalization patterns": ["colocalization_benchmark"],
}
DETECTION_TASKS = {
    "Segmentation of white blood cells": ["acevedo_et_al_2020"],
    "Segmentation of subcellular structures": ["opencell"],
    "Cell segmentation in synthetic images": ["burgess_et_al_2024_contour", "burgess_et_al_2024_eccentricity",
                                              "burgess_et_al_2024_texture"],
    "Mitochondria segmentation in CryoET images": ["wu_et_al_2023"],
    "Gland segmentation in benign and malignant colon histology images": ["sirinukunwattana_et_al_2016"],
}
TASK_TYPES = {"classification": CLASSIFICATION_TASKS, "segmentation_object_detection": DETECTION_TASKS}
HIERARCHIES = {  # table → (parent level, child level); Table 8 is single-level
    "domains": ("domain", "subdomain"),
    "modalities": ("modality", "submodality"),
    "stains": ("stain", None),
}
LEVEL_COLUMNS = ["level", "group", "parent"]


def name_key(name) -> str:
    """Case, spaces and punctuation ignored: "Hemato-pathology" and "hematopathology" are one name."""
    return re.sub(r"[^0-9a-z]", "", str(name).casefold())


def perception_images(images: pd.DataFrame, questions: pd.DataFrame) -> pd.DataFrame:
    """Images with at least one coarse or fine question, attributes missing as "unknown"."""
    asked = set(questions.loc[questions["subset"].isin(["coarse", "fine"]), "image_id"])
    return _filled(images[images["image_id"].isin(asked)])


def cognition_questions(images: pd.DataFrame, questions: pd.DataFrame) -> pd.DataFrame:
    """Cognition questions with their image's attributes ("unknown" where the image has none)."""
    cognition = questions[questions["subset"] == "cognition"][["question_id", "image_id"]]
    attributes = images.drop(columns=["dataset"]).set_index("image_id")
    return _filled(cognition.join(attributes, on="image_id"))


def hierarchy_table(rows: pd.DataFrame, parent: str, child: str | None, count: str) -> pd.DataFrame:
    """Counts per parent value, then per child value under its parent (most first; ties by name)."""
    top = rows.groupby(parent).size().rename(count).reset_index().rename(columns={parent: "group"})
    top = top.assign(level=parent, parent="")
    frames = [top]
    if child is not None:
        sub = rows.groupby([parent, child]).size().rename(count).reset_index()
        frames.append(sub.rename(columns={child: "group", parent: "parent"}).assign(level=child))
    table = pd.concat(frames, ignore_index=True)[[*LEVEL_COLUMNS, count]]
    order = {parent: 0, child: 1}
    table = table.assign(_level=table["level"].map(order), _n=-table[count])
    return table.sort_values(["_level", "_n", "group"]).drop(columns=["_level", "_n"]).reset_index(drop=True)


def beside_paper(ours: pd.DataFrame, paper: pd.DataFrame | None, keys: list[str], count: str) -> pd.DataFrame:
    """Ours with ``paper_<count>`` matched on name_key of ``keys``; paper rows we lack are appended (ours blank).
    ``paper`` None (not uBench): the paper column stays blank."""
    column = f"paper_{count}"
    table = ours.assign(**{column: np.nan})
    if paper is None:
        return table.astype({count: "Int64", column: "Int64"})

    def key(frame):
        return [tuple(map(name_key, row)) for row in frame[keys].itertuples(index=False)]

    published = dict(zip(key(paper), paper[count]))
    table[column] = [published.get(k, np.nan) for k in key(ours)]
    ours_keys = set(key(ours))
    missing = paper[[k not in ours_keys for k in key(paper)]]
    extra = pd.DataFrame({c: missing[c].to_numpy() if c in missing.columns and c != count else np.nan
                          for c in ours.columns}, index=range(len(missing)))
    extra[column] = missing[count].to_numpy()
    table = pd.concat([table, extra], ignore_index=True) if len(extra) else table
    return table.astype({count: "Int64", column: "Int64"})


def table3(images: pd.DataFrame, questions: pd.DataFrame, detection: pd.DataFrame) -> pd.DataFrame:
    """Perception summary: datasets, domains … stains, task counts and unique images (aspect, count)."""
    seen = perception_images(images, questions)
    coarse_types = questions.loc[questions["subset"] == "coarse", "question_type"].nunique()
    classification = _tasks(questions.loc[questions["subset"] == "fine", "dataset"].unique(), CLASSIFICATION_TASKS)
    localization = _tasks(detection["dataset"].unique(), DETECTION_TASKS)
    counts = {
        "Datasets": seen["dataset"].nunique(),
        **{name: _known(seen[column]).nunique() for name, column in (
            ("Domains", "domain"), ("Subdomains", "subdomain"), ("Modalities", "modality"),
            ("Submodalities", "submodality"), ("Stains", "stain"))},
        "Coarse-grained perception tasks": coarse_types,
        "Fine-grained perception tasks": len(classification) + len(localization),
        "Classification tasks": len(classification),
        "Segmentation and Object Detection tasks": len(localization),
        "Unique Images": len(seen),
    }
    return pd.DataFrame({"aspect": list(counts), "count": list(counts.values())})


def table4(images: pd.DataFrame, questions: pd.DataFrame, detection: pd.DataFrame) -> pd.DataFrame:
    """Images per fine-grained task: classification tasks from the fine questions, localization tasks from the
    detection table (a dataset the paper does not group is its own task)."""
    fine = questions[questions["subset"] == "fine"][["dataset", "image_id"]]
    rows = []
    for task_type, source in (("classification", fine), ("segmentation_object_detection", detection)):
        task_of = _task_of(TASK_TYPES[task_type])
        grouped = source.assign(task=source["dataset"].map(lambda d: task_of.get(d, d)))
        for task, part in grouped.groupby("task"):
            rows.append({"task_type": task_type, "task": task, "datasets": "; ".join(sorted(part["dataset"].unique())),
                         "images": part["image_id"].nunique()})
    table = pd.DataFrame(rows, columns=["task_type", "task", "datasets", "images"])
    return table.assign(_n=-table["images"]).sort_values(["task_type", "_n", "task"]).drop(columns="_n") \
        .reset_index(drop=True)


def table9(images: pd.DataFrame, questions: pd.DataFrame) -> pd.DataFrame:
    """Cognition summary (aspect, count); the paper's submitters and institutions are not in the tables."""
    rows = cognition_questions(images, questions)
    counts = {name: _known(rows[column]).nunique() for name, column in (
        ("Domains", "domain"), ("Subdomains", "subdomain"), ("Modalities", "modality"),
        ("Submodalities", "submodality"))}
    counts |= {"Questions": len(rows), "Images": rows["image_id"].nunique()}
    return pd.DataFrame({"aspect": list(counts), "count": list(counts.values())})


def composition_tables(images, questions, detection, references: dict[str, pd.DataFrame] | None,
                       with_cognition: bool) -> dict[str, pd.DataFrame]:
    """Every composition table by name (table3 … table11) beside the paper's; ``references`` None = no paper
    column (the benchmark is not uBench)."""
    ref = references or {}
    seen = perception_images(images, questions)
    tables = {
        "table3": beside_paper(table3(images, questions, detection), ref.get("table3"), ["aspect"], "count"),
        "table4": beside_paper(table4(images, questions, detection), ref.get("table4"), ["task_type", "task"],
                               "images"),
    }
    for name, key in (("table6", "domains"), ("table7", "modalities"), ("table8", "stains")):
        parent, child = HIERARCHIES[key]
        tables[name] = beside_paper(hierarchy_table(seen, parent, child, "images"), ref.get(name),
                                    ["level", "group"], "images")
    if with_cognition:
        rows = cognition_questions(images, questions)
        tables["table9"] = beside_paper(table9(images, questions), ref.get("table9"), ["aspect"], "count")
        for name, key in (("table10", "modalities"), ("table11", "domains")):
            parent, child = HIERARCHIES[key]
            tables[name] = beside_paper(hierarchy_table(rows, parent, child, "questions"), ref.get(name),
                                        ["level", "group"], "questions")
    return tables


def _task_of(tasks: dict[str, list[str]]) -> dict[str, str]:
    return {dataset: task for task, datasets in tasks.items() for dataset in datasets}


def _tasks(datasets, tasks: dict[str, list[str]]) -> set[str]:
    task_of = _task_of(tasks)
    return {task_of.get(d, d) for d in datasets}


def _known(values: pd.Series) -> pd.Series:
    return values[values != UNKNOWN_ATTRIBUTE]


def _filled(rows: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in ("domain", "subdomain", "modality", "submodality", "stain") if c in rows.columns]
    return rows.assign(**{c: rows[c].fillna(UNKNOWN_ATTRIBUTE).astype(str) for c in columns})


def printed_composition(table: pd.DataFrame, title: str, notes, source: str) -> PaperTable | None:
    """A composition table as a paper prints it: rows in blocks by their level (domain, subdomain, …) or task type;
    None for the summaries (Tables 3 and 9), printed as they are."""
    first = table.columns[0]
    if first not in ("level", "task_type"):
        return None
    return layout(table, [show(column) for column in table.columns[1:]], title, notes, group_by=first,
                  source=source, group_names=lambda name: humanise(name))
