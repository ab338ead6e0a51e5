"""Print every output of the workflow that a rule flags with ``report(...)``, one path a line.

    python tests/report_outputs.py WORKDIR [CONFIGFILE…]   # the workflow copy whose Snakefile and config to read

Builds the DAG of a forced full run through snakemake's API (as containers/bindings.py does; snakemake 9.27's
Workflow internals, pinned in the lock) and reads each job's output flags, so a check of the HTML report follows
whatever outputs the rules flag, without a list kept by hand. Run it in a subprocess: the API changes directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.io import is_flagged
from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings


def report_outputs(workdir: Path, configfiles: list[Path]) -> list[str]:
    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow_api = api.workflow(snakefile=workdir / "Snakefile", workdir=workdir,
                                    resource_settings=ResourceSettings(cores=1),
                                    config_settings=ConfigSettings(configfiles=configfiles))
        workflow_api.dag(DAGSettings(forceall=True))
        workflow = workflow_api._workflow
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True)
        workflow._build_dag()
        return sorted({str(path) for job in workflow.dag.jobs for path in job.output if is_flagged(path, "report")})


if __name__ == "__main__":
    workdir = Path(sys.argv[1]).resolve()
    configs = [workdir / name for name in sys.argv[2:]]
    sys.stdout.write("".join(f"{path}\n" for path in report_outputs(workdir, configs)))
