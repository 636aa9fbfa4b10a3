# audiokit: every target creates the virtualenv (.venv) first if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FSDD_ROOT ?= $(abspath ../shared/data/fsdd)
export FSDD_ROOT
export WANDB_MODE ?= offline

.PHONY: install demo test test-fast lint bench clean

$(BIN)/audiokit-train: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/audiokit-train

# The flagship recipe end to end: FSDD spoken-digit classification (time: README, Quick start).
demo: install
	recipes/fsdd/cls/run.sh

test: install
	$(BIN)/python -m pytest -q -ra --durations=15 tests

# Unit and config tests that need no corpus and are not slow (3 minutes on 2 quiet cores).
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not corpus" tests/unit tests/config

lint: install
	$(BIN)/ruff check audiokit tests bench

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
