# Preflight (`snakemake preflight [--profile …] [--configfile …]`, or `make check`): run on the login node before
# submitting; checks offline availability of everything this config needs and names every missing item at once.
# A `run:` block on purpose: it inspects the host the run starts from, never the inside of a container.

from snakemake.settings.types import DeploymentMethod


rule preflight:
    """Weights, uBench or MicroVQA shards (SHA-256), cognition folder and container images, loading no model."""
    params:
        models=lambda wc: list(MODELS.values()),
        benchmark=config["benchmark"],
        probe_features=PROBE["features"] if PROBE else None,
        images=workflow_images(),
        use_apptainer=DeploymentMethod.APPTAINER in workflow.deployment_settings.deployment_method,
        repo=workflow.basedir,
        results_dir=f"results/{BENCH}",  # where the build keeps its record of shard hashes
        failed_log_shown=workflow.output_settings.show_failed_logs,  # then the table is printed by Snakemake
    retries: 0  # a rerun finds the same gaps: the table once, whatever the profile's `retries`
    log:
        f"logs/preflight/{BENCH}.log",  # no benchmark file: it would count as an output and stop reruns
    run:
        from mubench.preflight import preflight

        preflight(**params, log=log[0])
