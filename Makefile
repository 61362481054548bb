# Everything a user needs goes through these targets; each one bootstraps ./.venv when it is missing.
# Two commands on a fresh clone:  make study   and   make test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
DATA ?=
STUDY ?= $(PROFILE)
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help study test figures rehearse compare lab notebooks readme book book-check bench clean clean-runs

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'
	@echo "  variables: PROFILE=cpu|paper|smoke  DATA=/path/to/fer2013.csv-or-folder  STUDY=name  ARGS='-p epochs 3'"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (>= 3.10) on PATH"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "need Python >= 3.10, $(PYTHON) is older"; exit 1; }
	@echo "bootstrapping $(VENV) (first time only: torch, jupyter and the landmark detectors, a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,landmarks]'
	@touch $@

study: $(STAMP)  ## run notebooks 00-05 on a profile (default: cpu, synthetic faces)
	$(PY) -m perturb_lib.pipeline --profile $(PROFILE) --study $(STUDY) $(if $(DATA),--data $(DATA)) $(ARGS)

test: $(STAMP)  ## run the test suite (one worker per core)
	$(PY) -m pytest -q -n auto --dist loadfile --no-loadscope-reorder --durations=15 $(ARGS)

figures: $(STAMP)  ## regenerate figures and tables from run records only (notebook 05)
	$(PY) -m perturb_lib.pipeline --profile $(PROFILE) --study $(STUDY) --only 05_figures --force $(ARGS)

# The paper profile's own grid (five architectures at full width, ten-crop, six removal regions, three Perturb
# backbones, clusters 1-5) through all six notebooks, on a tiny slice of synthetic faces for one epoch, in bf16 and
# channels-last where they apply: the GPU's code path, rehearsed on the CPU. Nothing it prints is a result.
REHEARSAL := -p dataset synthetic -p size 0.005 -p epochs 1 -p device cpu -p precision bf16 -p per_emotion 2 \
	-p sanity_images 8 -p lm_epochs 2 -p lm_step 30 -p cluster_sample 32
rehearse: $(STAMP)  ## the paper profile's grid at full width on a tiny slice of faces, 1 epoch, CPU (minutes)
	$(PY) -m perturb_lib.pipeline --profile paper --study rehearse --force $(REHEARSAL) $(ARGS)

compare: $(STAMP)  ## compare a fresh study (runs/STUDY) with the committed figures/STUDY, cell by cell
	$(PY) -m perturb_lib.compare --study $(STUDY) $(ARGS)

lab: $(STAMP)  ## open JupyterLab on the notebooks
	$(VENV)/bin/jupyter lab notebooks

notebooks: $(STAMP)  ## regenerate the notebooks' parameters cells and rebuild the .ipynb from their .py twins
	$(PY) -m perturb_lib.notebook_sync --write

readme: $(STAMP)  ## regenerate the README's generated sections (layers, parameters, results)
	$(PY) -m perturb_lib.readme --write

book: $(STAMP)  ## the docs and the committed studies' executed notebooks as a website (build/book/_build/html)
	$(PY) -m perturb_lib.book

book-check: $(STAMP)  ## build the book and open its pages in headless Chromium (apt-get install chromium)
	$(PY) -m perturb_lib.book --check

bench: $(STAMP)  ## print training and data-path throughput on this machine
	$(PY) benchmarks/bench_train.py $(ARGS)

clean:  ## remove caches, the built book and the virtual environment; keeps runs/ and figures/
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

clean-runs:  ## delete ALL run records and figures (asks first)
	@read -r -p "delete everything under runs/ and figures/? [y/N] " a; [[ $$a == y ]] && \
	  find runs figures -mindepth 1 ! -name README.md -delete && echo deleted || echo kept
