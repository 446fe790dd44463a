# portfolio-lab: `make book` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN ?= default
PARAMS ?= notebooks/params/$(RUN).yaml
PYTEST_WORKERS ?= 2

.PHONY: help install browser run book test lint infra unit notebooks nbval golden bench format clean

help:
	@echo "make book    - install, run every notebook with papermill ($(PARAMS)), build book/_build/html"
	@echo "make test    - install, lint, infra checks, unit + property tests, notebook tests (tiny params), book build + browser test, nbval"
	@echo "make run     - run the notebooks only (RUN=default|ci or PARAMS=file)"
	@echo "make bench   - run the benchmarks under bench/ (writes results/benchmarks/*.json)"
	@echo "make golden  - regenerate the nbval reference notebooks in tests/notebooks/golden/"

# scripts/install.sh is the one install path (the Docker image runs it too): it pins torch to
# the CPU build before anything else can pull a CUDA wheel, then installs the extras.
INSTALL_EXTRAS ?= dev,book,bench,rl
$(STAMP): pyproject.toml scripts/install.sh
	PYTHON=$(PYTHON) scripts/install.sh --venv $(VENV) --variant cpu --extras $(INSTALL_EXTRAS) --editable
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/portfolio-lab run --params $(PARAMS)

book: run
	$(BIN)/portfolio-lab book --run $(RUN)

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

# one BLAS thread per pytest worker: two workers on two cores, no oversubscription; the tests
# marked slow (the OLPS toolbox reproduction of ONS, Anticor, CWMR: about 10 s) run here too
unit: install
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/pytest -m "not notebooks" -n $(PYTEST_WORKERS) -q

# Debian's chromium for the browser test of the built book (tests/notebooks/test_browser.py);
# where apt-get cannot run as root the test skips and says why
browser:
	@if [ -x /usr/bin/chromium ]; then /usr/bin/chromium --version; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	    && /usr/bin/chromium --version; \
	else echo "browser: no apt-get as root here; the browser test will be skipped"; fi

notebooks: install browser
	$(BIN)/pytest -m notebooks -q

nbval: install
	$(BIN)/pytest -q -p no:randomly --nbval-lax --nbval-current-env tests/notebooks/golden

# the field's own validators, offline: hadolint (image), cfn-lint (AWS), kubernetes-validate
# --strict (every manifest, and a sweep generated now from the example grid)
infra: install
	$(BIN)/hadolint --failure-threshold info infrastructure/docker/Dockerfile
	$(BIN)/cfn-lint --format parseable infrastructure/aws/gpu-run.yaml
	rm -rf results/_sweep_check
	$(BIN)/portfolio-lab sweep --grid infrastructure/k8s/grids/lstm-sweep.yaml --out results/_sweep_check
	$(BIN)/kubernetes-validate --strict --quiet infrastructure/k8s/*.yaml infrastructure/k8s/lstm-sweep/*.yaml results/_sweep_check/*.yaml

test: lint infra unit notebooks nbval

golden: install
	$(BIN)/python -m tests.notebooks.make_golden

bench: install
	$(BIN)/python bench/frontier.py
	$(BIN)/python bench/backends.py
	$(BIN)/python bench/backtest.py
	$(BIN)/python bench/models.py
	$(BIN)/python bench/rl.py

format: install
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

clean:
	rm -rf book/_build book/_notebooks results/ci results/nbval .pytest_cache
