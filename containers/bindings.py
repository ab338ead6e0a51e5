"""Print which Apptainer image each job of the workflow runs in, as `snakemake --use-apptainer` resolves it.

    .venv/bin/python containers/bindings.py [--configfile configs/paper.yaml]   # TSV: rule, wildcards, image

`snakemake -n --use-apptainer` refuses to start where the apptainer binary is absent (it checks before it
pulls), and its dry-run listing does not name images. This builds the same DAG through snakemake's API with the
apptainer deployment method switched on and reads each job's resolved image — nothing is pulled or run.
Relies on snakemake 9.27's Workflow internals (_prepare_dag, _build_dag); the version is pinned in the lock.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import (
    ConfigSettings,
    DAGSettings,
    DeploymentMethod,
    DeploymentSettings,
    OutputSettings,
    ResourceSettings,
)

REPO = Path(__file__).resolve().parent.parent


def planned_jobs(snakefile: Path, configfiles: list[Path], targets: list[str] | None = None) -> list:
    """Every job of a forced run of ``targets`` (default: the default target), with its container resolved."""
    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow_api = api.workflow(
            snakefile=snakefile,
            workdir=snakefile.parent,
            config_settings=ConfigSettings(configfiles=configfiles),
            resource_settings=ResourceSettings(cores=1),
            deployment_settings=DeploymentSettings(deployment_method={DeploymentMethod.APPTAINER}),
        )
        workflow_api.dag(DAGSettings(forceall=True, targets=set(targets or ())))
        workflow = workflow_api._workflow
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True)
        workflow._build_dag()
        return list(workflow.dag.jobs)


def job_images(snakefile: Path, configfiles: list[Path]) -> list[tuple[str, str, str]]:
    """(rule, wildcards as k=v,…, image or "") for every job of a forced full run."""
    return sorted(
        (job.rule.name, ",".join(f"{k}={v}" for k, v in sorted(job.wildcards_dict.items())),
         job.container_img_url or "")
        for job in planned_jobs(snakefile, configfiles)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snakefile", type=Path, default=REPO / "Snakefile")
    parser.add_argument("--configfile", type=Path, action="append", default=[],
                        help="extra config files, as for snakemake (config.yaml is always read first)")
    args = parser.parse_args()
    rows = job_images(args.snakefile.resolve(), [p.resolve() for p in args.configfile])
    sys.stdout.write("".join(f"{rule}\t{wildcards}\t{image}\n" for rule, wildcards, image in rows))


if __name__ == "__main__":
    main()
