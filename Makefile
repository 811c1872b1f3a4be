# agentoss developer commands. A fresh machine needs only `make test` and `make run TASK="..."`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CODE := agentoss tools sandboxes evals
TASK ?=

.PHONY: install services lint fmt typecheck test test-fast run bench clean

$(STAMP): pyproject.toml setup.py Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first, so nothing later pulls a multi-GB CUDA build.
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[all,dev]"
	# BFCL ships its question files and checkers; its declared deps are provider SDKs we do not need.
	$(PY) -m pip install -q --no-deps "bfcl-eval==2026.3.23"
	touch $(STAMP)

install: $(STAMP)

services: install  ## Docker daemon and the sandbox image (installs docker.io when root with apt).
	bash scripts/ensure_docker.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy $(CODE)

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install lint typecheck services
	$(BIN)/pytest -q -ra

test-fast: install  ## Unit tests without Docker.
	$(BIN)/pytest -q -m "not docker"

run: install
	@$(BIN)/agentoss run --from-make -- "$(TASK)"

bench: install services
	for b in benchmarks/*_bench.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
