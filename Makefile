# dispatchwire: `make run` serves the embedded default with demo accounts; `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint cluster clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/dispatchwire serve --demo

# Three nodes on PostgreSQL + Redis behind nginx, from the installed binaries (Ctrl-C stops).
cluster: install
	$(BIN)/python deploy/cluster/cluster.py $(CLUSTER_ARGS)

test: install lint
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
