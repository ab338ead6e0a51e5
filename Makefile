# Two entry points for a fresh machine: `make demo` and `make test`. Both build/refresh .venv first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# No run of the demo or the tests needs the network; failing fast beats 30 s of hub retries.
export HF_HUB_OFFLINE ?= 1

.PHONY: venv demo test bench lint clean containers

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

demo: venv
	$(BIN)/snakemake --cores all
	@echo
	@echo "Done. Tables and figures are in paper_figures/ (table1.md, table1.csv, table1_breakdown.csv);"
	@echo "per-model predictions and scores in results/demo/, logs in logs/."

test: venv
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python benchmarks/bench_inference.py
	$(BIN)/python benchmarks/bench_bootstrap.py

# Apptainer images per model family (containers/<name>.def → .sif); fails with a clear message without apptainer.
containers:
	containers/build.sh

lint: venv
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake
