# tokensim: two commands on a fresh machine.
#   make run   create .venv, install, start the server with demo accounts
#   make test  same venv; lint, format check, mypy --strict on a staged install, pytest
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
STAGE  := build/mypy-stage

.PHONY: run test lint typecheck pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'setuptools>=77' wheel

$(STAMP): pyproject.toml $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-build-isolation -e '.[dev]'
	touch $(STAMP)

# Starts the server with one demo account per device kind and prints how to log in with each;
# the data folder (./data) keeps the database, master key and demo devices between runs.
run: $(STAMP)
	$(BIN)/tokensim serve --demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy cannot map a folder to another package name, so it checks a staged copy of the installed package;
# its paths map one-to-one back to the repository (tokensim/protocol/x.py is protocol/x.py).
typecheck: $(STAMP)
	rm -rf $(STAGE)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation . --target $(STAGE)
	cd $(STAGE) && ../../$(BIN)/mypy --strict --config-file ../../pyproject.toml -p tokensim

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf build $(VENV) *.egg-info
