# Quick start: `make run` (train + evaluate MTI-Net on the embedded synthetic data), `make test`.
# `make openmmlab` adds the optional OpenMMLab extra (compiles mmcv once per machine; `make test` does it).
# `make browser` installs Debian's chromium for the site's browser test when it can (`make test` does it).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.14.1 torchvision==0.29.1
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mtbench-installed
MM_STAMP := $(VENV)/.mtbench-openmmlab

.PHONY: setup openmmlab browser run lint test bench leaderboard clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml setup.py mtbench/metrics/_hopcroft_karp.c
	$(PY) -m pip install --upgrade pip -q
	$(PY) -m pip install $(TORCH)
	$(PY) -m pip install -e ".[dev,tensorboard,slurm]"
	touch $(STAMP)

setup: $(STAMP)

# mmcv 2.1.0 is compiled against the venv's torch (wheel cached in ~/.cache/mtbench/wheels), then the extra.
$(MM_STAMP): $(STAMP) scripts/build_mmcv.sh
	bash scripts/build_mmcv.sh $(PY)
	$(PY) -m pip install -e ".[dev,tensorboard,slurm,openmmlab]"
	touch $(MM_STAMP)

openmmlab: $(MM_STAMP)

# Headless Chromium for tests/test_site_browser.py (driven by the dev extra's playwright; never `playwright install`).
# Best effort: Debian's chromium via apt-get (as root, else `sudo -n`); where that fails (no apt, no rights, offline)
# it says so and the browser test skips. Never fails the make.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

browser: setup
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	  || (export DEBIAN_FRONTEND=noninteractive; $(SUDO) apt-get install -y -q chromium \
	      || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)) \
	  || echo "chromium not installed: the browser test will skip"

run: setup
	$(VENV)/bin/mtbench run --model mtinet

# Code-health gates first (ruff lint + format check, mypy; configured in pyproject.toml), then the tests.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: setup lint openmmlab browser
	$(PY) -m pytest -q -n 2 --timeout 600

leaderboard: setup
	$(VENV)/bin/mtbench sweep --preset default
	$(VENV)/bin/mtbench leaderboard
	$(VENV)/bin/mtbench leaderboard --site results/site

clean:
	rm -rf $(VENV) runs .pytest_cache
