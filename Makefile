# dispatchwire: `make run` serves the embedded default with demo accounts; `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint cluster bench bench-profile soak clean

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

# The benchmark beside the seed's Node stack (about 3.5 minutes, and up to 3 more waiting for a
# quiet machine; options in docs/performance.md).
PEER := bench/peers/node-seed
bench: $(VENV)/.bench-installed $(PEER)/node_modules/.package-lock.json
	command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Hours of ordinary traffic: memory, files, loop lag, the database and retention over time
# (about 25 minutes; SOAK_ARGS="--minutes 120" for longer, "--minutes 3" to try it).
soak: $(VENV)/.bench-installed
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

bench-profile: $(VENV)/.bench-installed
	$(BIN)/python -m bench --profile $(BENCH_ARGS)

$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

$(PEER)/node_modules/.package-lock.json: $(PEER)/package-lock.json
	cd $(PEER) && (npm ci --no-audit --no-fund || npm install --no-audit --no-fund)

# Two workers, one per core; each file's tests run in one worker (they share its fixtures).
test: install lint
	$(BIN)/pytest -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
