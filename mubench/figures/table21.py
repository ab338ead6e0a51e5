"""Appendix Table 21: every model's family, checkpoint, revision and parameter count measured on the loaded weights.

The predict job of each model writes ``results/{benchmark}/predictions/{model}/model.json`` with ``n_parameters``
(null for the API and the random baseline), ``model_class``, ``source_id``, ``revision``, ``fingerprint`` and
``family``; this table reads those files and puts the paper's printed size beside ours.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from mubench.figures.paper_table import PaperTable, layout, show
from mubench.models.groups import GROUPS
from mubench.models.spec import ModelSpec

MODEL_FACTS = ("n_parameters", "model_class", "source_id", "revision", "fingerprint", "family")
TABLE21_COLUMNS = ["model", "group", "family", "model_class", "parameters", "n_parameters", "checkpoint", "revision",
                   "fingerprint", "paper_total_params", "paper_n_parameters", "parameters_vs_paper"]
# Table 21 prints a few models under another name than Tables 1/19/20.
TABLE21_NAMES = {"QwenVLM": "Qwen-VL"}
_UNITS = {"K": 1e3, "M": 1e6, "B": 1e9}


def read_model_facts(path: str | Path) -> dict:
    """One model.json, checked for the keys Table 21 needs (the message names the file)."""
    facts = json.loads(Path(path).read_text())
    missing = [key for key in MODEL_FACTS if key not in facts]
    if missing:
        raise KeyError(f"{path}: model facts lack {missing}")
    return facts


def parse_count(text) -> int | None:
    """A printed size such as "151.2M", "17.6B" or "195.M" as a number; None when blank or unreadable."""
    match = re.fullmatch(r"\s*([0-9]+\.?[0-9]*)\s*([KMB])\s*", "" if pd.isna(text) else str(text))
    return round(float(match[1]) * _UNITS[match[2]]) if match else None


def human_count(n) -> str:
    """1234567 → "1.23M" (blank for a model without parameters of its own, e.g. an API)."""
    if n is None or pd.isna(n):
        return ""
    for unit in ("B", "M", "K"):
        if n >= _UNITS[unit]:
            return f"{n / _UNITS[unit]:.3g}{unit}"
    return str(int(n))


def build_table21(models: Sequence[ModelSpec], facts: Mapping[str, dict], reference: pd.DataFrame) -> pd.DataFrame:
    """One row per model in config order: ours from ``facts`` (model name → model.json), the paper's size beside."""
    paper = reference.set_index("model")["total_params"]
    rows = []
    for spec in models:
        fact = facts[spec.name]
        printed = paper.get(TABLE21_NAMES.get(spec.paper_name, spec.paper_name))
        paper_n = parse_count(printed)
        n = fact["n_parameters"]
        rows.append({
            "model": spec.label, "group": GROUPS.get(spec.group, spec.group), "family": fact["family"],
            "model_class": fact["model_class"] or "", "parameters": human_count(n), "n_parameters": n,
            "checkpoint": fact["source_id"], "revision": fact["revision"], "fingerprint": fact["fingerprint"],
            "paper_total_params": printed, "paper_n_parameters": paper_n,
            "parameters_vs_paper": round(n / paper_n, 3) if n is not None and paper_n else None,
        })
    table = pd.DataFrame(rows, columns=TABLE21_COLUMNS)
    return table.astype({"n_parameters": "Int64", "paper_n_parameters": "Int64"})


def printed_table21(table: pd.DataFrame, title: str, notes, source: str) -> PaperTable:
    """Table 21 as a paper prints it: each model's group, family, size, checkpoint and revision, the paper's size."""
    specs = [show("model", "Model"), show("group", "Group"), show("family", "Family"),
             show("parameters", "Parameters"), show("checkpoint", "Checkpoint"), show("revision", "Revision"),
             show("paper_total_params", "Paper")]
    return layout(table, specs, title, notes, source=source)
