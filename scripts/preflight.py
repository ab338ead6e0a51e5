"""Snakemake adapter: the preflight table on the terminal and in the log; fails when any item is not ready."""

import logging
import sys
from pathlib import Path

from mubench.logs import log_to
from mubench.preflight import render, run_checks


def run(models, benchmark, probe_features, images, use_apptainer, repo, hash_record):
    checks = run_checks(models, dict(benchmark), dict(probe_features), images, use_apptainer=use_apptainer,
                        repo=Path(repo), hash_record=Path(hash_record))
    table = render(checks)
    sys.stdout.write(table)
    logging.getLogger("mubench").info("preflight\n%s", table)
    failed = [c.item for c in checks if not c.passed]
    if failed:
        raise SystemExit(f"preflight failed: {len(failed)} items not ready ({', '.join(failed)}); see the table above")


with log_to(snakemake.log[0]):
    p = snakemake.params
    run(p.models, p.benchmark, p.probe_features, p.images, p.use_apptainer, p.repo, p.hash_record)
