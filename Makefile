# The two commands a newcomer needs:  make lab  (explore)  and  make test  (verify).
# Both create .venv on first use and install everything: torch==2.13.0 first, pinned,
# so pip never pulls a multi-gigabyte CUDA build, then causalkit itself (editable).

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.causalkit-installed
HOST ?= 127.0.0.1
PORT ?= 8888

.PHONY: setup lab app book test lint bench bench-browser gpu-check browser-deps reproduce

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.10+ not found; run make PYTHON=/path/to/python"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The token is made per start and passed to the server in its environment, never on its
# command line (see causalkit/lab.py); CAUSALKIT_LAB_TOKEN=… chooses it.
lab: $(STAMP)
ifeq ($(origin TOKEN),command line)
	$(error TOKEN is not read: each start makes a fresh token; CAUSALKIT_LAB_TOKEN=<16+ characters> chooses one)
endif
ifeq ($(origin TOKEN),environment)
	@echo "note: TOKEN in the environment is ignored; CAUSALKIT_LAB_TOKEN chooses the token"
endif
	$(BIN)/python -m causalkit lab --host $(HOST) --port $(PORT)

# One notebook's panels through Voilà, without code, for projecting: make app NB=cgn.
NB ?= cgn
APP_PORT ?= 8866
app: $(STAMP)
	$(BIN)/python -m causalkit app $(NB) --host $(HOST) --port $(APP_PORT)

# The course site: each notebook's executed quick run (a current copy under runs/ is reused,
# the missing ones run on Dask), built offline with Jupyter Book 1 into _build/html/.
book: $(STAMP)
	$(BIN)/python -m causalkit book

# The browser tests drive Debian's Chromium; install it when missing and we may.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "Chromium is missing: browser tests will be skipped (sudo apt-get install chromium)"; \
		fi; \
	fi

# One pytest-xdist worker per core (at most 4); tests/conftest.py keeps each paper's
# trained-model tests in order on one worker. The slowest tests are listed at the end. Then
# the site is built from the notebooks the suite just executed and checked in Chromium.
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))
test: $(STAMP) browser-deps
	$(BIN)/python -m pytest -n $(TEST_JOBS) --durations 25
	$(BIN)/python -m pytest -m site tests/browser/test_site.py

lint: $(STAMP)
	$(BIN)/ruff check causalkit widgets tests notebooks docs/site/_ext
	$(BIN)/ruff format --check causalkit widgets tests docs/site/_ext

bench: $(STAMP)
	$(BIN)/python -m widgets bench

# The GPU path end to end, one table (CAUSALKIT_DEVICE=cpu make gpu-check: the same on the CPU).
gpu-check: $(STAMP)
	$(BIN)/python -m tests.gpu_check

# Each panel's latency as a student feels it: key press to new picture in Chromium.
bench-browser: $(STAMP) browser-deps
	$(BIN)/python -m tests.browser.latency

# The committed reproduction report: every paper preset over its seeds. On a 2-core CPU a
# CGN or semvae seed takes hours (a training cell alone can pass 90 minutes, hence the cell
# timeout); a stopped sweep resumes, and the cache keeps every model it finished. Longest
# runs first, so two workers stay busy.
SWEEP := $(BIN)/python -m causalkit sweep --preset paper --cell-timeout 21600 --out sweeps
reproduce: $(STAMP)
	$(SWEEP) cgn,semvae --seeds 0
	$(SWEEP) icm,ncc,cfl,tour --seeds 0-2
	$(BIN)/python -m causalkit report sweeps --out REPRODUCTION.md \
		--html sweeps/report.html --reproduction reproduction
