# Two commands from a fresh clone (Python 3.11 and nothing else needed):
#   make run    set up .venv, then the main job: `cadbench run --model simple`
#   make test   set up .venv, then the test suite (the README's test command)
# The set-up runs once: a stamp in .venv keyed on pyproject.toml's contents, so a second call
# installs nothing until pyproject.toml changes. `make help` lists every target.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
# The interpreter that creates .venv (empty: python3.11, else python3).
PYTHON ?=
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXTRAS ?= learned,dask,test,dev

# torch is installed before the project, explicitly: a bare `pip install torch` pulls a
# multi-GB CUDA build on Linux. Default: the CPU build (a local wheel pip already knows of,
# else PyTorch's CPU index). A GPU build instead: TORCH_INDEX=https://download.pytorch.org/whl/cu128
# (and TORCH_SPEC for another version), on the first `make`, or after `make clean-venv`.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu

STAMP := $(VENV)/.cadbench-setup-$(firstword $(shell cksum pyproject.toml))
PYTEST_ARGS ?=
RUN_ARGS ?=

# Files kept in `ruff format` style (checked by `make lint`); add a file when you format it.
# The older modules keep their hand-aligned style: reformatting them wholesale would bury
# every author's history under one commit.
FORMATTED := cadbench/__init__.py cadbench/provenance.py tests/conftest.py \
	tests/shared_data.py tests/test_makefile.py tests/test_provenance.py tests/test_shared_data.py

.PHONY: help setup run test test-fast lint clean-venv

help:
	@echo "make run        set up .venv (once), then cadbench run --model simple [RUN_ARGS=...]"
	@echo "make test       set up .venv (once), then the whole test suite [PYTEST_ARGS=...]"
	@echo "make test-fast  the fast lane: the suite without tests marked slow"
	@echo "make lint       ruff check, ruff format --check (FORMATTED files), mypy"
	@echo "make setup      only the set-up; make clean-venv removes .venv"
	@echo "variables: PYTHON, VENV, EXTRAS, TORCH_SPEC, TORCH_INDEX (a GPU build of torch)"

setup: $(STAMP)
	@echo "set-up: $(VENV) up to date ($(STAMP))"

run: setup
	$(VENV)/bin/cadbench run --model simple $(RUN_ARGS)

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check $(FORMATTED)
	$(VENV)/bin/mypy

clean-venv:
	rm -rf $(VENV)

# An existing .venv (made by hand, say) is kept and completed, never recreated.
$(PY):
	@py="$(strip $(PYTHON))"; \
	if [ -z "$$py" ]; then py=$$(command -v python3.11 || true); fi; \
	if [ -z "$$py" ]; then \
	  py=$$(command -v python3) || { echo "no python3.11 or python3 on PATH"; exit 1; }; \
	  echo "python3.11 not found: creating $(VENV) with $$py ($$($$py --version 2>&1))" \
	       "instead; cadbench is developed and measured on Python 3.11"; \
	fi; \
	echo "creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV) || { echo "could not create $(VENV): on Debian/Ubuntu," \
	  "install the venv module first (apt install python3.11-venv)"; exit 1; }

$(STAMP): | $(PY)
	@if $(PY) -c "import torch" 2>/dev/null; then \
	  echo "torch: $$($(PY) -c 'import torch; print(torch.__version__)') already installed," \
	       "kept (another build: $(PIP) uninstall torch, then make again)"; \
	elif [ -n "$(TORCH_INDEX)" ]; then \
	  echo "torch: $(TORCH_SPEC) from TORCH_INDEX=$(TORCH_INDEX)"; \
	  $(PIP) install --index-url "$(TORCH_INDEX)" "$(TORCH_SPEC)"; \
	elif $(PIP) install --dry-run --quiet --no-index --no-deps "$(TORCH_SPEC)" >/dev/null 2>&1; \
	then \
	  echo "torch: $(TORCH_SPEC) from a local wheel (pip's find-links)"; \
	  $(PIP) install --no-index --no-deps "$(TORCH_SPEC)" && $(PIP) install "$(TORCH_SPEC)"; \
	else \
	  echo "torch: the CPU build of $(TORCH_SPEC) from $(TORCH_CPU_INDEX)"; \
	  $(PIP) install --index-url "$(TORCH_CPU_INDEX)" "$(TORCH_SPEC)"; \
	fi
	$(PIP) install -e ".[$(EXTRAS)]"
	@$(PY) -c "import torch; print('torch', torch.__version__, '| CUDA build:', torch.version.cuda or 'no (CPU)')"
	@rm -f $(VENV)/.cadbench-setup-*
	@touch $@
	@echo "set-up done ($@): the next make installs nothing until pyproject.toml changes"
