# Two entry points for a fresh machine: `make demo` and `make test`. Both build/refresh .venv first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# No run of the demo or the tests needs the network; failing fast beats 30 s of hub retries.
export HF_HUB_OFFLINE ?= 1

.PHONY: venv demo test test-fast bench lint clean containers test-containers check

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

# Each benchmark's artefacts go to paper_figures/<benchmark.name>/ (config.yaml: demo).
DEMO_DIR = paper_figures/$(shell sed -n 's/^  name: *\([A-Za-z0-9_.+-]*\).*/\1/p' config.yaml | head -n 1)

demo: venv
	$(BIN)/snakemake --cores all
	$(BIN)/snakemake --cores 1 --report $(DEMO_DIR)/report.html
	@echo
	@echo "Done. Everything is in $(DEMO_DIR)/ (paper_figures/README.md maps each file to its rule):"
	@echo "  report.html        every table and figure with its caption, grouped by the paper's sections"
	@echo "  leaderboard.html   models x subsets, sortable, with each model's wrong answers; opens offline"
	@echo "  reproduction.md    how close this run came to the paper's numbers"
	@echo "  table1.{csv,md,tex,html}, table1_breakdown.csv, significance.csv, sensitivity.csv   accuracy, CIs, tests"
	@echo "  fig3-fig14, table3-table21   composition, perception axes, probe, pHash, GRIT, merging, models"
	@echo "  every table: .csv (data), .md, .tex (a paper's \\input), .html (shown in the report)"
	@echo "Predictions and scores per model are in results/demo/, one log per job in logs/."

# Every core (pytest-xdist): tests that share a workflow run stay in one process, so each run happens once
# (tests/conftest.py). TEST_WORKERS=1 runs them all in this process.
TEST_WORKERS ?= auto
XDIST = $(if $(filter 1,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup)
# Bytecode caches are written even where the shell sets PYTHONDONTWRITEBYTECODE: without them pytest rewrites
# every test module's asserts again in each worker (3.5 s each) and every workflow job recompiles mubench.
PYTEST = env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest

test: venv
	$(PYTEST) -q $(XDIST)

# The unit tests alone: no Snakemake, no workflow run (tests marked `workflow` or `slurm` are left out).
test-fast: venv
	$(PYTEST) -q $(XDIST) -m "not workflow and not slurm"

# The pipeline at μ-Bench's scale (~5 min on 2 cores): prints one table and rewrites docs/performance.md.
# BENCH_ARGS=--quick for a 5 % run without the demo. Not part of `make test`.
BENCH_ARGS ?=
bench: venv
	$(BIN)/python benchmarks/bench_scale.py $(BENCH_ARGS)

# Login-node preflight: everything a run needs (weights, shards, images) checked offline, every gap named at once.
#   make check CONFIG=configs/paper.yaml PROFILE=profiles/slurm
check: venv
	$(BIN)/python -m mubench.config config.yaml $(CONFIG)
	$(BIN)/snakemake --cores 1 preflight $(if $(PROFILE),--profile $(PROFILE)) $(if $(CONFIG),--configfile $(CONFIG))

# The image of every model family from containers/<name>.def, with whatever this machine has: apptainer → .sif,
# else podman or docker → OCI images (containers/build.sh --help; docs/cluster.md). Says which; explains if none.
containers:
	containers/build.sh

# Builds every image with podman (root; installs podman/runc/debootstrap with apt when absent), runs each image's
# test, then the demo with every job inside its image, tables compared with a venv run (docs/performance.md has
# the times). RECORD=1 writes the measured times and image sizes into docs/performance.md.
test-containers: venv
	RECORD=$(RECORD) tests/containers/run.sh

lint: venv
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake
