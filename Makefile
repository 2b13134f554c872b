# One place for the commands, the same on a laptop and in CI.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: setup system stack demo test faults lint schemas down

setup: $(VENV)/.installed system

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

system:
	bash deploy/local/system-packages.sh

stack: setup
	$(BIN)/callapi-events stack up

down:
	$(BIN)/callapi-events stack down

demo: stack  ## the main job: the whole pipeline on the local real stack
	$(BIN)/callapi-events demo

test: stack  ## every test, against the real stack
	$(BIN)/pytest

faults: stack  ## the fault-injection suite alone
	$(BIN)/pytest -m faults

lint:
	$(BIN)/ruff check .
	$(BIN)/mypy

schemas:
	$(BIN)/python -m schemas
