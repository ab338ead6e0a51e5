# Cross-section outputs: reproduction.md, which compares each artefact with the paper, and a note in the report for
# each artefact this configuration cannot produce (ABSENT, rules/common.smk).


wildcard_constraints:
    absent="|".join(map(re.escape, ABSENT)) or "^$",


rule reproduction:
    """paper_figures/<benchmark>/reproduction.md: per artefact, cells compared with the paper, within its CI, largest
    Δ."""
    input:
        tables=reproduction_tables,
        manifest=f"{BENCH_DIR}/manifest.json",
    output:
        md=paper_file("reproduction.md"),
        html=report(paper_file("reproduction.html"), caption="../report/reproduction.rst", category=MAIN,
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
        png=report(paper_file("absent/{absent}.png"), caption="../report/absent.rst",
                   category=lambda wc: ABSENT[wc.absent][2], subcategory=lambda wc: ABSENT[wc.absent][0]),
        pdf=paper_file("absent/{absent}.pdf"),
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
