"""The table writers without Snakemake: LaTeX that compiles inside a default article page, the same layout as HTML,
CSV labels that read back as written."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mubench.figures import html, latex
from mubench.figures.export import TableFiles, csv_label, write_csv, write_table
from mubench.figures.paper_table import Show, default_layout, layout, show
from mubench.figures.table1 import CI_NOTES, build_table1, printed_table1

from tex import compile_problems, pdflatex  # noqa: F401 (fixture)


def test_escape_writes_every_symbol_as_ascii_latex():
    text = "μ-Bench α=0.5 † ‡ ± ≥ ≤ × ≈ — – … “q” é ü ñ ç Ω θ ‖ ★ GalT–EGFP 50 % $5 a_b {x} ~ ^ \\ <> | [1] 😀"
    escaped = latex.escape(text)
    assert escaped.isascii()
    for piece in [r"$\mu$-Bench", r"$\alpha$=0.5", r"\dag{}", r"\ddag{}", r"$\pm$", r"$\geq$", "---", r"\'{e}",
                  r"\"{u}", r"\~{n}", r"\c{c}", r"$\Omega$", r"$\theta$", r"50 \%", r"\$5", r"a\_b", r"\{x\}",
                  r"\textbackslash{}", "{[}1{]}", "[U+1F600]"]:
        assert piece in escaped, piece


def _compiles(printed, tmp_path, name="table"):
    tex = tmp_path / f"{name}.tex"
    tex.write_text(latex.render(printed, f"tab:test:{name}"))
    assert compile_problems(tex) == []
    return tex.read_text()


def test_a_wide_table_is_split_into_parts_repeating_the_key_column(pdflatex, tmp_path):
    table = pd.DataFrame({"model": [f"model number {i}" for i in range(4)],
                          **{f"measure_{j}": np.linspace(0, 99.99, 4) + j for j in range(16)}})
    text = _compiles(default_layout(table, "Sixteen measures", ["a note"]), tmp_path)
    assert text.count(r"\begin{tabular}") >= 2 and text.count("model number 3") == text.count(r"\begin{tabular}")
    assert r"\footnotesize" in text and "Measure 15" in text


def test_a_long_table_continues_in_further_floats_and_long_names_wrap(pdflatex, tmp_path):
    table = pd.DataFrame({
        "subset": ["coarse"] * 90 + ["fine"] * 90,
        "checkpoint": ["hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"] * 180,
        "revision": ["9f341de24bfb00180f1b847274256e9b65a3a32e"] * 180,
        "accuracy": np.linspace(0, 100, 180), "ci_halfwidth": np.full(180, 1.25),
    })
    specs = [show("checkpoint", "Checkpoint"), show("revision", "Revision"),
             Show("Accuracy", ("accuracy", "ci_halfwidth"), lambda r: f"{r['accuracy']:.2f} ± {r['ci_halfwidth']:.2f}")]
    printed = layout(table, specs, "Table 9 — a long table", ["n/a — see table_long.csv"], group_by="subset",
                     source="table_long.csv")
    text = _compiles(printed, tmp_path)
    assert text.count(r"\begin{table}") >= 3 and "(continued)" in text
    assert r"\parbox" in text and r"\textit{coarse}" in text and r"\textit{fine}" in text
    assert r"\caption[A long table]" in text  # the paper's "Table 9 —" is not this paper's number


def test_the_compile_check_catches_what_sticks_out(pdflatex, tmp_path):
    """The check the workflow tests rely on fails on an overfull table and on an error."""
    wide = tmp_path / "wide.tex"
    wide.write_text(r"\begin{tabular}{l}\toprule " + "x" * 400 + r"\\ \bottomrule\end{tabular}" + "\n")
    assert any("Overfull" in p for p in compile_problems(wide))
    broken = tmp_path / "broken.tex"
    broken.write_text(r"\begin{tabular}{l} \undefinedcommand \end{tabular}" + "\n")
    assert any("Undefined control sequence" in p for p in compile_problems(broken))
    raw = tmp_path / "raw.tex"
    raw.write_text("α\n", encoding="utf-8")
    assert "non-ASCII" in compile_problems(raw)[0]


def _table1_frame():
    rows = []
    for subset, n, accuracies in [("coarse", 1400, {"CLIP": 40.0, "Random": 20.0, "PLIP": 39.0}),
                                  ("cognition", 12, {"CLIP": 50.0, "Random": 25.0, "PLIP": 58.33})]:
        for model, accuracy in accuracies.items():
            rows.append(dict(subset=subset, model=model, accuracy=accuracy, ci_low=max(accuracy - 20, 0),
                             ci_high=min(accuracy + 20, 100), ci_halfwidth=min(20, 100 - accuracy), n_questions=n,
                             paper_accuracy=18.34 if model == "Random" else None, paper_ci=None, small_n=n < 30))
    return pd.DataFrame(rows)


def test_table1_prints_models_as_rows_subsets_as_columns_best_bold_and_marks(pdflatex, tmp_path):
    table = _table1_frame()
    printed = printed_table1(table, {"coarse": {"PLIP"}}, "Table 1 — μ-Bench accuracy (%)", ["† = tied", *CI_NOTES],
                             "table1.csv")
    assert [c.header for c in printed.columns] == [("Model",), ("Coarse", "n = 1400"), ("Cognition", "n = 12")]
    assert [c.text for c in printed.columns[0].cells] == ["CLIP", "Random", "PLIP"]
    coarse, cognition = printed.columns[1].cells, printed.columns[2].cells
    assert coarse[0].text == "40.00 ± 20.00" and coarse[0].bold and not coarse[2].bold
    assert coarse[2].marks == "†" and coarse[1].marks == ""
    assert cognition[2].bold and all("‡" in c.marks for c in cognition)  # 12 questions: too few for the interval
    assert set(printed.not_shown) == {"ci_low", "ci_high", "paper_accuracy", "paper_ci"}
    text = _compiles(printed, tmp_path, "table1")
    assert r"\textbf{40.00 $\pm$ 20.00}" in text and r"39.00 $\pm$ 20.00\textsuperscript{\dag{}}" in text
    assert r"\textsuperscript{\ddag{}}" in text and "paper\\_\\allowbreak{}accuracy" in text  # named in the caption
    assert r"\label{tab:test:table1}" in text and r"\toprule" in text and r"\bottomrule" in text
    page = html.page(printed, table)
    assert "<strong>40.00 ± 20.00</strong>" in page and "39.00 ± 20.00<sup>†</sup>" in page
    assert "Every column of table1.csv (6 rows)" in page and "18.34" in page and "clipped to [0, 100]" in page


def test_table1_flags_small_n_and_keeps_intervals_in_range():
    scores = pd.DataFrame([
        dict(model=m, subset="fine", scope="all", level="total", group="all", n=n, n_correct=k, accuracy=k / n,
             ci_low=0.0, ci_high=min(1.0, k / n + 0.3), ci_halfwidth=min(1.0, k / n + 0.3) - k / n)
        for m, n, k in [("a", 4, 1), ("b", 30, 29)]])
    from mubench.models import ModelSpec

    specs = [ModelSpec.from_config(dict(name=m, family="random", seed=0)) for m in ("a", "b")]
    table = build_table1(scores, specs, ["fine"], pd.DataFrame(columns=["subset", "model", "accuracy", "ci"]))
    assert table.set_index("model")["small_n"].to_dict() == {"a": True, "b": False}


def test_labels_pandas_reads_as_missing_round_trip(tmp_path):
    table = pd.DataFrame({"level": ["stain"] * 5, "group": ["None", "H&E", "NA", "null", "unknown"],
                          "n": [1, 2, 3, 4, 5], "paper": [None, 1.0, None, None, None]})
    write_csv(table, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["group"].tolist() == ["none", "H&E", "na", "'null'", "unknown"]
    assert back["group"].notna().all() and back["paper"].isna().sum() == 4  # a missing number stays missing
    assert csv_label("None") == "none" and csv_label(3) == 3


def test_write_table_writes_the_four_files_from_one_layout(tmp_path):
    table = pd.DataFrame({"level": ["stain", "stain"], "group": ["None", "DAPI"], "images": [40, 12]})
    files = TableFiles(*(str(tmp_path / "demo" / f"table8_stains.{ext}") for ext in ("csv", "md", "tex", "html")))
    (tmp_path / "demo").mkdir()
    write_table(table, files, "Table 8 — perception images by stain", ["counted from images.parquet"])
    assert pd.read_csv(files.csv)["group"].tolist() == ["none", "DAPI"]
    assert "| stain | none | 40 |" in open(files.md).read()  # the same label in all four files
    tex = open(files.tex).read()
    assert r"\label{tab:demo:table8_stains}" in tex and r"\caption[Perception images by stain]" in tex
    assert "stain & none & 40" in tex and r"counted from images.\allowbreak{}parquet" in tex
    page = open(files.html, encoding="utf-8").read()
    assert "<h1>Table 8 — perception images by stain</h1>" in page and '<td class="r">40</td>' in page
