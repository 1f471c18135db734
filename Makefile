# Quick start: `make demo` (main job on the embedded default) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
WORKSPACE ?= workspace
SIZE   ?= demo
WORKERS ?= 2
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (0: one process); each test module runs whole on
# one worker, so a module-scoped fixture is built once
TEST_WORKERS ?= 2

.PHONY: demo test lint typecheck bench clean install dev schemas

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[world]'
	touch $@

# Tests exercise the external-model code paths with tiny models they build themselves:
# torch/torchvision come from the wheels that ship on this machine kind (no CUDA download).
$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e '.[dev,world,clip,vlm,merlin,colipri,serve,web,maisi,text,ray,slurm,encoder,radiomics,survival]'
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.dev-installed

demo: install
	$(BIN)/lesiontrials run --size $(SIZE) --workspace $(WORKSPACE) --workers $(WORKERS) --keep-going

test: dev
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

lint: dev
	$(BIN)/ruff check src tests benchmarks tools

typecheck: dev
	$(BIN)/mypy

bench: dev
	$(BIN)/python benchmarks/bench_profiler.py
	$(BIN)/python benchmarks/bench_index.py
	$(BIN)/python benchmarks/bench_world.py
	$(BIN)/python benchmarks/bench_plan.py
	$(BIN)/python benchmarks/bench_insert.py
	$(BIN)/python benchmarks/bench_analysis.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_selective.py

# JSON Schemas of the stage records and the web UI's JSDoc types (checked in; a test
# fails when they are stale). Type-check cases.js with `npx tsc` (see tests/apps/test_schemas.py).
schemas: install
	$(BIN)/python -m lesiontrials.apps.schemas

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache .mypy_cache .ruff_cache
