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

# pip byte-compiles every installed module in one process (~60 CPU-s for the dev install,
# torch's thousands of files most of it); installing with --no-compile and compiling the
# same files on every core afterwards gives the same .pyc files in half the wall time on
# 2 cores. Like pip, it passes over files that are not valid Python 3 (package templates).
BYTE_COMPILE = $(BIN)/python -c 'import compileall, sysconfig; \
	compileall.compile_dir(sysconfig.get_paths()["purelib"], quiet=2, workers=0)'

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --no-compile -e '.[world]'
	$(BYTE_COMPILE)
	touch $@

# Tests exercise the external-model code paths with tiny models they build themselves:
# torch/torchvision come from the wheels that ship on this machine kind (no CUDA download).
$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/python -m pip install -q --no-compile torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q --no-compile -e '.[dev,world,clip,vlm,merlin,colipri,serve,web,maisi,text,ray,slurm,encoder,radiomics,survival]'
	$(BYTE_COMPILE)
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
