# The two Quick start commands are `make run` and `make test`; both install what they need into
# .venv first (no root, no Docker). `make bench` runs every benchmark and rewrites
# docs/performance.json and docs/performance.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/*))
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-test
PROJECTS := core/pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS)) pyproject.toml

.PHONY: install install-test run test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python $(PROJECTS)
	$(BIN)/python -m pip install -q -e "./core[otlp]" $(addprefix -e ./,$(PLUGINS))
	touch $@

$(DEVSTAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

install: $(STAMP)  ## create .venv and install core (with its otlp extra) and every plugin (editable)

install-test: $(DEVSTAMP)  ## install plus the test dependencies

run: install  ## serve on runtime.toml's embedded defaults
	$(BIN)/artagent serve --config runtime.toml

test: install-test  ## the whole suite
	$(BIN)/python -m pytest

bench: install-test  ## every benchmark; results in docs/performance.{json,md,png} (load: 60-90 min)
	$(BIN)/python scripts/bench.py

lint: install-test
	$(BIN)/python -m pip install -q ruff mypy
	$(BIN)/ruff check core plugins tests scripts
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .venv-pipecat .artagent .pytest_cache
