# One entry point for every routine task. Each target builds what it needs from scratch, so
# on a fresh machine `make test` and `make demo` are all there is to run.
PYTHON ?= python3
VENV ?= .venv
LOCK ?= requirements/test.txt
UV_VERSION := 0.13.8
BIN := $(VENV)/bin
UV := $(BIN)/uv

.PHONY: demo cluster test test-lowest test-cluster lint format pytest browser fuzz bench \
	bench-triggerer bench-cost lock clean

## demo: the main example DAG, run by Airflow against the local job API (see README)
demo: $(VENV)/.installed
	VENV=$(VENV) scripts/demo.sh

## cluster: the production topology (PostgreSQL, Redis, CeleryExecutor with two workers, two
## triggerers) running the example DAGs against the local job API; prints the UI URL, Ctrl-C stops it
cluster: $(VENV)/.installed
	scripts/cluster-deps.sh
	$(BIN)/python -m tests.e2e.cluster

# The virtualenv, installed exactly as pinned in $(LOCK) (a new upstream release changes nothing).
$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip install --quiet --python $(BIN)/python -r $(LOCK) -e '.[test]'
	touch $@

venv: $(VENV)/.installed

## test: lint, then the whole test suite (the command CI runs)
test: lint pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

pytest: $(VENV)/.installed browser
	$(BIN)/python -m pytest -m "not cluster" $(PYTEST_ARGS)

## browser: Debian's Chromium for the web UI tests (installed when missing)
browser:
	scripts/install-chromium.sh

## fuzz: the differential test of the two runners, long profile (PARITY_EXAMPLES, default 5000)
fuzz: $(VENV)/.installed
	PARITY_PROFILE=parity-fuzz $(BIN)/python -m pytest tests/runners/test_differential.py -q \
		-p no:cacheprovider --hypothesis-show-statistics

## test-lowest: the suite on the lowest Airflow this package supports (CI runs it too): all
## but the end-to-end tests, and of those the web UI test (its form path differs on 3.1)
test-lowest:
	$(MAKE) VENV=.venv-lowest LOCK=requirements/test-lowest-airflow.txt \
		PYTEST_ARGS='-m "not e2e or ui"' pytest

## test-cluster: the tests on that topology, faults included (CI runs them after the rest)
test-cluster: $(VENV)/.installed
	scripts/cluster-deps.sh
	$(BIN)/python -m pytest -m cluster tests/e2e $(PYTEST_ARGS)

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: the side-by-side benchmarks (own environment, with the classic httsleep beside ours)
bench: $(VENV)/.installed
	$(MAKE) VENV=.venv-bench LOCK=requirements/bench.txt venv
	.venv-bench/bin/python -m benchmarks.bench_engine
	.venv-bench/bin/python -m benchmarks.bench_sensor
	.venv-bench/bin/python -m benchmarks.bench_triggers

## bench-cost: instructions per poll (valgrind), the floor beside the async runner
bench-cost: $(VENV)/.installed
	$(MAKE) VENV=.venv-bench LOCK=requirements/bench.txt venv
	.venv-bench/bin/python -m benchmarks.bench_poll_cost

## bench-triggerer: N deferred tasks on one real airflow triggerer, ours beside HttpSensorTrigger
## and a floor (N = 1,000 / 5,000 / 10,000 at one poll per 10 s: about 25 minutes; BENCH_ARGS)
bench-triggerer: $(VENV)/.installed
	$(BIN)/python -m benchmarks.bench_triggerer $(BENCH_ARGS)

## lock: re-pin every environment (run after changing dependencies, then commit the files)
lock: $(VENV)/.installed
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml --extra test \
		-o requirements/test.txt
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml --extra test \
		-c requirements/lowest-airflow.in -o requirements/test-lowest-airflow.txt \
		--exclude-newer 2026-01-01 \
		--exclude-newer-package apache-airflow-providers-common-compat=2026-11-01
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml --extra test \
		requirements/bench.in -o requirements/bench.txt

clean:
	rm -rf .venv .venv-* .pytest_cache .ruff_cache .mypy_cache
