# The README's two commands, plus bench and lint.  Each target creates the virtual
# environment and installs what it needs, so both work on a fresh clone.
#
#   make run    -- seqcompare run on the default suite, report in reports/default/
#   make test   -- the whole test suite (slow tests included) against the installed wheel:
#                  two pytest-xdist workers, then the speed guard (marked serial) alone

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deps-installed
SUITE  ?= default
OUTPUT ?= reports/$(SUITE)

.PHONY: run test bench lint install clean

# Dependencies: installed once per venv (re-run when pyproject.toml changes).
$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet ".[test,dask,bench]"
	touch $(STAMP)

# The package itself: a regular (non-editable) install every time, so tests and runs
# exercise the wheel as users get it -- data files and comparison suites included.
install: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall .

run: install
	$(BIN)/seqcompare run $(SUITE) --output $(OUTPUT)

# The report's browser test drives Debian's chromium through /usr/bin/chromedriver: install
# both when either is missing (as root, or through sudo). If that fails the test fails too.
test: install
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  echo "make test: installing Debian's chromium and chromium-driver for the browser test"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  ( $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y \
	      --no-install-recommends chromium chromium-driver ) \
	  || echo "make test: could not install chromium; the browser test will fail"; \
	fi
	SEQMODELS_TEST_INSTALLED=1 $(BIN)/python -P -m pytest -n 2 --dist worksteal -m "not serial" --durations=25
	SEQMODELS_TEST_INSTALLED=1 $(BIN)/python -P -m pytest -m serial

# Every speed claim in one table (BENCHMARKS.md): about 5 minutes on 2 cores.
bench: install
	$(BIN)/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet flake8
	$(BIN)/python -m flake8 seqmodels tests benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info reports
