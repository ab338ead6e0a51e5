# Cross-section outputs, included last (they need every section's settings): reproduction.md, which compares each
# artefact with the paper, and a note in the report for each artefact this configuration cannot produce.

# name → (title, why it is absent, report category, the paper_figures/*.csv files it would have written)
ABSENT = {
    name: entry
    for name, entry, missing in [
        ("table19_fig5_merging", ("Table 19 / Fig. 5 — weight merging", "no merging pairs configured "
                                  "(config `merging.pairs`)", MERGING_SECTION, ["table19.csv"]), not MERGING.pairs),
        ("table18_grit", ("Table 18 — GRIT localization", "no detection models configured (config "
                          "`detection.models`)", LOCALIZATION_SECTION, ["table18_grit.csv"]), not DETECTION_MODELS),
        ("table13_fig8_linear_probe", ("Table 13 / Fig. 8 — linear probe", "the linear probe is off (config "
                                       "`probe` is null: it needs per-image class labels, which cognition-only "
                                       "benchmarks such as MicroVQA have not)", ANALYSES_SECTION,
                                       ["table13_linear_probe.csv"]), not PROBE),
        ("table14_phash", ("Table 14 — pHash near-duplicates", "pHash is off (config `phash` is null)",
                           ANALYSES_SECTION, ["table14_phash.csv"]), not PHASH),
        ("tables9_11_cognition", ("Tables 9–11 — cognition composition", cognition_absent_reason(), BENCHMARK_SECTION,
                                  [f"{stem}.csv" for stem in COGNITION_TABLES]), "cognition" not in SUBSETS),
        ("perception", ("Figs. 3, 4, 11–14, Tables 3–11, 20 — perception, composition", "this benchmark has no perception "
                        "(coarse or fine) questions: it is a cognition benchmark", MAIN,
                        ["table20_pathology.csv"] + [f"{stem}.csv" for stem in COMPOSITION_TABLES]), not PERCEPTION),
    ]
    if missing
}
ABSENT_OUTPUTS = [f"paper_figures/absent/{name}.{ext}" for name in ABSENT for ext in ("png", "pdf")]
REPRODUCTION_TABLES = (
    ["paper_figures/table1.csv", *PROBE_OUTPUTS[:1], *PHASH_OUTPUTS[:1]]
    + (["paper_figures/table20_pathology.csv"] + [f"paper_figures/{stem}.csv" for stem in COMPOSITION_TABLES]
       if PERCEPTION else [])
    + ["paper_figures/table21_models.csv"]
    + (["paper_figures/table19.csv"] if MERGING.pairs else [])
    + DETECTION_OUTPUTS[:1]
)


wildcard_constraints:
    absent="|".join(map(re.escape, ABSENT)) or "^$",


rule reproduction:
    """paper_figures/reproduction.md: per artefact, cells compared with the paper, within its CI, largest Δ."""
    input:
        tables=REPRODUCTION_TABLES,
        manifest=f"{BENCH_DIR}/manifest.json",
    output:
        report("paper_figures/reproduction.md", caption="../report/reproduction.rst", category=MAIN,
               subcategory="How close to the paper"),
    params:
        absent={table: f"not produced: {reason}" for _, reason, _, tables in ABSENT.values() for table in tables},
    container:
        BASE_CONTAINER
    log:
        f"logs/reproduction/{BENCH}.log",
    benchmark:
        f"logs/bench/reproduction/{BENCH}.tsv"
    script:
        "../scripts/reproduction.py"


rule absent_artefact:
    """A figure saying why this configuration has no such artefact (e.g. no detection models configured)."""
    output:
        png=report("paper_figures/absent/{absent}.png", caption="../report/absent.rst",
                   category=lambda wc: ABSENT[wc.absent][2], subcategory=lambda wc: ABSENT[wc.absent][0]),
        pdf="paper_figures/absent/{absent}.pdf",
    params:
        title=lambda wc: ABSENT[wc.absent][0],
        reason=lambda wc: ABSENT[wc.absent][1],
    container:
        BASE_CONTAINER
    log:
        f"logs/absent_artefact/{BENCH}/{{absent}}.log",
    benchmark:
        f"logs/bench/absent_artefact/{BENCH}/{{absent}}.tsv"
    script:
        "../scripts/absent_artefact.py"
