# Two commands set everything up on a fresh machine with Python 3.11+ (see README.md):
#   make demo   - create .venv, install torch + dfshield, run the demo comparison
#   make test   - same set-up, then the test suite
# and, for contributors: make lint (ruff + mypy), make test-fast (skips slow and e2e tests),
# make mutation-check (does the suite notice single-line breaks of the papers' math? minutes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test test-fast lint format clean mutation-check

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/dfshield demo

# one test process a core (pytest-xdist; at most 4), a test file to a process so that its module
# fixtures are built once; pytest run by hand on a test file still runs in one process
PARALLEL := -n auto --maxprocesses 4 --dist loadfile

test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PARALLEL) --durations=15

test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest $(PARALLEL) -m "not slow and not e2e"

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

mutation-check: $(BIN)/.installed
	$(BIN)/python scripts/mutation_check.py

format: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) build *.egg-info
