# One place for the commands, the same on a laptop and in CI.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: setup system stack demo test faults lint schemas down constraints

setup: $(VENV)/.installed system

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt --build-constraint constraints.txt -e ".[dev]" setuptools wheel
	touch $@

# The names and versions of a pip --report's "install" list, the project itself left out.
define PINNED
import json, sys
pulled = json.load(open(sys.argv[1]))["install"]
pins = sorted(((p["metadata"]["name"], p["metadata"]["version"]) for p in pulled), key=lambda pin: pin[0].lower())
print("\n".join(f"{name}=={version}" for name, version in pins if name != "callapi-events"))
endef
export PINNED

# pyproject.toml's [build-system] requires, one per line: pinned too, for the build environments.
define BUILD_REQUIRES
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))
endef
export BUILD_REQUIRES

constraints:  ## pin what .venv holds, limited to what `pip install -e ".[dev]"` and the build pull in
	$(BIN)/pip freeze --all --exclude-editable > $(VENV)/.freeze.txt
	$(BIN)/python -c "$$BUILD_REQUIRES" > $(VENV)/.build-requires.txt
	$(BIN)/pip install -q --dry-run --ignore-installed -c $(VENV)/.freeze.txt \
		--report $(VENV)/.pulled-in.json -e ".[dev]" -r $(VENV)/.build-requires.txt
	grep '^#' constraints.txt > $(VENV)/.constraints.txt
	$(BIN)/python -c "$$PINNED" $(VENV)/.pulled-in.json >> $(VENV)/.constraints.txt
	mv $(VENV)/.constraints.txt constraints.txt
	rm -f $(VENV)/.freeze.txt $(VENV)/.pulled-in.json $(VENV)/.build-requires.txt

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
