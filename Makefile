# linli — `make run` starts everything on embedded defaults; `make test` runs the checks and the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: help install temporal run test lint typecheck pytest histories clean

help:
	@echo "make run        install what is missing, then start the dev server, a worker and the API (linli up)"
	@echo "make test       lint, type-check and run the tests against a real Temporal dev server"
	@echo "make install    create $(VENV) and install linli with its dev tools"
	@echo "make temporal   find or build the Temporal CLI (cached in ~/.cache/linli)"
	@echo "make histories  re-record the saved workflow histories (only when behaviour changes on purpose)"

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "linli needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/.installed

temporal: install
	@$(BIN)/python -m core.temporal_cli >/dev/null

run: temporal
	$(BIN)/linli up

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

pytest: temporal
	$(BIN)/pytest

test: lint typecheck pytest

histories: temporal
	$(BIN)/python -m tests.histories.record

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
