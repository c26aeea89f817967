# difffake: every target sets itself up from nothing (a .venv with everything it needs).
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
# onnxruntime flavour: gpu when an NVIDIA driver is visible, else cpu (never both).
ORT ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
READY := $(VENV)/.ready-$(ORT)
ARGS ?=
# the bundle `make app` serves: the newest demo run's, unless given
BUNDLE ?= $(shell ls -td outputs/demo/runs/*/bundle 2>/dev/null | head -1)

.PHONY: help venv demo test sweep bench bench-gpu report lint clean app browser

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(PYTHON):
	$(PY) -m venv --system-site-packages $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip setuptools wheel

# torch already importable (a CUDA image's preinstalled one, say) is kept; else the cached 2.14.1 build.
$(READY): pyproject.toml | $(PYTHON)
	$(PYTHON) -c "import torch, torchvision" 2>/dev/null || $(PYTHON) -m pip install torch==2.14.1 torchvision==0.29.1 || $(PYTHON) -m pip install "torch>=2.3,<3" torchvision
	$(PYTHON) -m pip install -e ".[$(ORT),dev,app]"
	# insightface's metadata pins onnxruntime + opencv-python; its real needs are in pyproject.toml.
	$(PYTHON) -m pip install --no-deps "insightface>=0.7"
	@rm -f $(VENV)/.ready-*; touch $@

venv: $(READY)  ## create .venv and install everything

demo: $(READY)  ## run every stage on the embedded demo data (CPU, minutes)
	$(PYTHON) -m src.run experiment=demo $(ARGS)

test: $(READY) browser  ## run the test suite
	$(PYTHON) -m pytest -q $(ARGS)

# The browser test drives Debian's chromium; installed here when missing and apt-get runs as root, else it skips.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	  || echo "no chromium (and no root apt-get to install it): the browser test will skip"

app: $(READY)  ## serve the local page for a bundle (default: the newest demo run's): make app [BUNDLE=<dir>]
	@test -n "$(BUNDLE)" || { echo "no bundle: run make demo first, or pass BUNDLE=<bundle dir>"; exit 2; }
	$(PYTHON) -m src.app bundle=$(BUNDLE) $(ARGS)

sweep: $(READY)  ## backbones x pair operators x heads: a W&B sweep when online, a Hydra multirun offline
	$(PYTHON) -m src.sweep $(ARGS)

bench: $(READY)  ## every CPU benchmark, one `name: value unit` line per figure; also writes bench.json
	$(PYTHON) -m benchmarks.run_all --out bench.json $(ARGS)

bench-gpu: $(READY)  ## on CUDA: stage-1 training throughput (fp32 / bf16 / channels_last / CUDA graphs / compile / 128 per step), embedding, the paper GMM's fit
	$(PYTHON) -m benchmarks.run_all --gpu --out bench-gpu.json $(ARGS)

report: $(READY)  ## finished runs against the paper: reproduction.md + .png (ARGS="runs=<outputs dir> [out=<dir>]")
	$(PYTHON) -m src.report $(if $(ARGS),$(ARGS),runs=outputs)

lint: $(READY)  ## ruff
	$(BIN)/ruff check src data_modules tests benchmarks

clean:  ## remove the venv, caches, outputs and artifacts
	rm -rf $(VENV) outputs multirun artifacts wandb bench.json bench-gpu.json .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
