# reveil — everyday verbs. `make run` and `make test` work from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# under REVEIL_DATA_DIR when it is set, as settings.warehouse_path() puts it
export REVEIL_WAREHOUSE ?= $(or $(REVEIL_DATA_DIR),$(CURDIR)/data)/warehouse/reveil.duckdb
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# DuckDB's spill folder, for dbt as for Dagster (settings.duckdb_temp_dir)
export REVEIL_DUCKDB_TEMP_DIR ?= $(or $(REVEIL_DATA_DIR),$(CURDIR)/data)/tmp
# DuckDB's threads for dbt as for Dagster (settings.duckdb_threads): the cores
export REVEIL_DUCKDB_THREADS ?= $(shell nproc 2>/dev/null || echo 2)
# the virtualenv's tools (dbt, dagster) first, also for the processes dagster dev spawns
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
DEMO_CONTACTS ?= 2000
SEED ?= 42
SCALE ?= 100k

.PHONY: setup run test dev lint fmt demo-data manifest docs bench clean rollback

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

# Pinned install: pyproject pins the stack, constraints.txt pins everything beneath it.
.setup-stamp: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --disable-pip-version-check -q -c constraints.txt -e '.[dev]' \
		2> >(grep -v 'neither a file nor a directory' >&2)
	touch .setup-stamp

setup: .setup-stamp manifest
	@mkdir -p $(DAGSTER_HOME) && test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	@cmp -s dagster.yaml $(DAGSTER_HOME)/dagster.yaml || echo "note: $(DAGSTER_HOME)/dagster.yaml \
	differs from the project's dagster.yaml (kept: it may hold your settings); to take the \
	project's (pool, run monitoring, event log storage): cp dagster.yaml $(DAGSTER_HOME)/" >&2

# dbt manifest that dagster-dbt loads (never parsed at import time).
manifest: .setup-stamp
	cd dbt && ../$(BIN)/dbt parse --quiet --profiles-dir . --project-dir .

# dbt's docs site (every model and column described) for the warehouse of make run
docs: setup
	@mkdir -p "$(dir $(REVEIL_WAREHOUSE))"
	cd dbt && ../$(BIN)/dbt docs generate --quiet --profiles-dir . --project-dir . \
		$$(test -f "$(REVEIL_WAREHOUSE)" || echo --empty-catalog)  # no warehouse yet: no types
	@echo "dbt docs: dbt/target/index.html (serve: cd dbt && ../$(BIN)/dbt docs serve --profiles-dir .)"

demo-data: setup
	$(BIN)/python -m dagster_project.cli demo-data --contacts $(DEMO_CONTACTS) --seed $(SEED)

run: setup
	$(BIN)/python -m dagster_project.cli run --demo-contacts $(DEMO_CONTACTS) --seed $(SEED)

# 2 workers (pytest-xdist), one test file per worker: a file's module fixtures build once
TEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

dev: setup
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

lint: setup
	$(BIN)/ruff check dagster_project tests benchmarks
	$(BIN)/ruff format --check dagster_project tests benchmarks
	cd dbt && ../$(BIN)/sqlfluff lint models --dialect duckdb --templater jinja

fmt: setup
	$(BIN)/ruff check --fix dagster_project tests benchmarks
	$(BIN)/ruff format dagster_project tests benchmarks

bench: setup
	$(BIN)/python -m benchmarks.run --scale $(SCALE)

rollback: setup
	$(BIN)/python -m dagster_project.cli rollback

clean:
	rm -rf data/landing data/warehouse data/serving data/exports data/reports data/tmp .dagster_home dbt/target
