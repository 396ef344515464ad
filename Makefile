# Paved: two commands from a fresh clone. `make demo` runs the product on the sandbox
# organisation; `make test` runs every check. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.paved-installed
PAVED_HOME ?= $(CURDIR)/.paved
export PAVED_HOME

.PHONY: demo test lint typecheck unit browser dagster bench clean help

help:
	@echo "make demo      build the sandbox organisation, run Paved on it, open the dashboard"
	@echo "make test      lint, type-check and run every test"
	@echo "make dagster   the Dagster UI and daemon on Paved's instance"
	@echo "make bench     benchmarks at enterprise scale (results in bench/results/)"
	@echo "make clean     remove .venv and .paved"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Paved and its pinned dependencies into $(VENV) ..."
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/paved demo

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/pyright

unit: $(STAMP) browser
	$(BIN)/pytest -q -n 2

# The real-browser test (tests/test_dashboard_browser.py) drives Debian's chromium through
# Playwright's own driver: the system browser, never `playwright install` (no browser download).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the real-browser test ..."; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium fonts-liberation; }

dagster: $(STAMP)
	$(BIN)/python -m pipelines.dev

# Builds (once, cached in bench/.cache) and measures the enterprise world: expect it to take a
# while. `$(BIN)/python -m bench --scale small` is the quick version.
bench: $(STAMP)
	$(BIN)/python -m bench --scale enterprise

clean:
	rm -rf $(VENV) .paved
