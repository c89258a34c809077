# `make run` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint chaos bench bench-profile bench-scale bench-sla clean postgresql redis

run: $(INSTALLED)
	$(BIN)/harvester run -c configs/demo.toml

test: $(INSTALLED) postgresql redis
	$(BIN)/ruff check harvester tests benchmarks
	$(BIN)/ruff format --check harvester tests benchmarks
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check harvester tests benchmarks
	$(BIN)/ruff format --check harvester tests benchmarks

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The PostgreSQL sink's tests start a private server from Debian's package;
# without it they are skipped, saying why.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	|| (apt-get update -qq \
	    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	|| echo "PostgreSQL could not be installed; its tests will be skipped"

# The shared budget's tests start a private Redis server from Debian's
# package; without it they are skipped, saying why.
redis:
	@command -v redis-server >/dev/null 2>&1 \
	|| (apt-get update -qq \
	    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
	|| echo "Redis could not be installed; its tests will be skipped"

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache

chaos: $(INSTALLED)
	$(BIN)/python -m benchmarks.chaos

# Benchmark-only packages (dlt, py-spy) come with the bench targets alone.
BENCH_INSTALLED := $(VENV)/.bench-installed

$(BENCH_INSTALLED): pyproject.toml $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

bench: $(BENCH_INSTALLED)
	$(BIN)/python -m benchmarks

# Load-benchmark the emulator against the documented SLA, then check that
# the HTML report renders in headless Chromium (installed here if missing).
bench-sla: $(INSTALLED)
	@command -v chromium >/dev/null 2>&1 \
	|| (apt-get update -qq \
	    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	$(BIN)/python -m benchmarks.bench_sla --out out/bench-sla

bench-profile: $(BENCH_INSTALLED)
	$(BIN)/python -m benchmarks hot_profile

# The large scale in one process, then on 1 and 2 Ray workers sharing a
# Redis budget.
bench-scale: $(BENCH_INSTALLED) redis
	$(BIN)/python -m benchmarks scale
