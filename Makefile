# Bootstrap .venv from the pinned dependencies in pyproject.toml, then run the pipeline or the tests.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test test-e2e bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

run: $(STAMP)
	dvc repro
	asvit report

# unit and in-process tests
test: $(STAMP)
	pytest -m "not e2e"

# end-to-end tests: real DVC commands, S3 and MLflow servers, a Dask cluster, torchrun; one test file per
# core at a time (pytest-xdist), each process with its own scratch pipeline
test-e2e: $(STAMP)
	pytest -m e2e -n auto --dist loadfile

bench: $(STAMP)
	python benchmarks/proxy_speed.py
	python benchmarks/external_ground_truth.py
	python benchmarks/design_cost.py
	python benchmarks/progressive_tokens.py
	python benchmarks/executor_overhead.py
	python benchmarks/latency_budget.py

clean:
	rm -rf $(VENV)
