# Developer commands. CI runs exactly these (see .ci/run).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
#: The runtime-only install (what `make demo` needs): no dev or Spark extras.
RUNTIME_STAMP := $(VENV)/.installed-runtime
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test test-fast bench lint format typecheck clean system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,spark]'
	touch $(STAMP)

venv: $(STAMP)

$(RUNTIME_STAMP): pyproject.toml
	@echo "[1/3] virtual environment in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "[2/3] pip (upgrade)"
	@$(BIN)/python -m pip install -q --upgrade pip
	@echo "[3/3] klantreis and its runtime dependencies (no dev/spark extras)"
	@$(BIN)/python -m pip install -e . 2>&1 | grep -E --line-buffered '^(Collecting|Successfully|ERROR)'; \
	  test $${PIPESTATUS[0]} -eq 0
	@$(BIN)/klantreis --version >/dev/null
	touch $(RUNTIME_STAMP)

## Java (for the Spark parity suite) and Chromium (for the browser suite), from Debian.
system-deps:
	@bash scripts/system-deps.sh

## The demo needs only the runtime install (a full `make venv` satisfies it too).
demo: $(RUNTIME_STAMP)
	$(BIN)/klantreis demo $(DEMO_ARGS)

#: The suite runs on every core (pytest-xdist), whole files per worker so a module's
#: fixtures are built once; `make test PYTEST_WORKERS=0` runs it in one process. Each run
#: ends with its 25 slowest tests and its longest files (tests/conftest.py): with whole
#: files per worker, the longest file is the run's critical path.
PYTEST_WORKERS ?= auto

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info demo-data
