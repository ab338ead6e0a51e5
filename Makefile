# Two entry points for a fresh machine: `make demo` and `make test`. Both build/refresh .venv first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# No run of the demo or the tests needs the network; failing fast beats 30 s of hub retries.
export HF_HUB_OFFLINE ?= 1

.PHONY: venv demo test bench lint clean containers check

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

demo: venv
	$(BIN)/snakemake --cores all
	@echo
	@echo "Done. Tables and figures are in paper_figures/:"
	@echo "  table1.md / table1.csv / table1_breakdown.csv   accuracy with bootstrap CIs (Table 1)"
	@echo "  table13_linear_probe.csv, fig8_linear_probe.png  linear-probe baseline"
	@echo "  table14_phash.csv, table14_robustness*.csv      pHash near-duplicates"
	@echo "  table19.csv, fig5_merging.png, merging_alpha_curve.png   weight merging"
	@echo "Predictions and scores per model are in results/demo/, one log per job in logs/."

test: venv
	$(BIN)/python -m pytest -q

# The pipeline at μ-Bench's scale (~15 min on 2 cores): prints one table and rewrites docs/performance.md.
# BENCH_ARGS=--quick for a 5 % run without the demo. Not part of `make test`.
BENCH_ARGS ?=
bench: venv
	$(BIN)/python benchmarks/bench_scale.py $(BENCH_ARGS)

# Login-node preflight: everything a run needs (weights, shards, images) checked offline, every gap named at once.
#   make check CONFIG=configs/paper.yaml PROFILE=profiles/slurm
check: venv
	$(BIN)/snakemake --cores 1 preflight $(if $(PROFILE),--profile $(PROFILE)) $(if $(CONFIG),--configfile $(CONFIG))

# Apptainer images per model family (containers/<name>.def → .sif); fails with a clear message without apptainer.
containers:
	containers/build.sh

lint: venv
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake
