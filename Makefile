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
	@echo "==> creating the virtual environment $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'setuptools>=77' wheel

# pip prints each package as it downloads and installs it: the first install takes about a minute.
$(STAMP): pyproject.toml $(BIN)/python
	@echo "==> installing tokensim and its dependencies into $(VENV) (about a minute the first time)"
	$(BIN)/python -m pip install --no-build-isolation -e '.[dev]'
	touch $(STAMP)
	@echo "==> installed: $(BIN)/tokensim"

# Starts the server with one demo account per device kind and prints how to log in with each;
# the data folder (./data) keeps the database, master key and demo devices between runs.
run: $(STAMP)
	@echo "==> starting the server with demo accounts (Ctrl+C stops it)"
	$(BIN)/tokensim serve --demo

test: lint typecheck pytest
	@echo "==> make test: all checks passed"

lint: $(STAMP)
	@echo "==> make test 1/3: ruff lint and format check"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy cannot map a folder to another package name, so it checks a staged copy of the installed package;
# its paths map one-to-one back to the repository (tokensim/protocol/x.py is protocol/x.py).
typecheck: $(STAMP)
	@echo "==> make test 2/3: mypy --strict on a staged copy of the package (about a minute)"
	rm -rf $(STAGE)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation . --target $(STAGE)
	cd $(STAGE) && ../../$(BIN)/mypy --strict --config-file ../../pyproject.toml -p tokensim

pytest: $(STAMP)
	@echo "==> make test 3/3: pytest, the whole suite (several minutes; real servers on loopback ports)"
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf build $(VENV) *.egg-info
