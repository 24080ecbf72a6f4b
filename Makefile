# Two commands on a fresh machine: `make demo` (builds a dataset from real code) and `make test`.
# Each creates the virtual environment in .venv when it is missing and installs what it needs: the demo the
# project alone, the tests their extras on top. An install re-runs when pyproject.toml changes.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# apt-get needs root: through sudo when make runs as another user.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_INSTALL := $(SUDO) apt-get install -y -qq --no-install-recommends
NO_VENV := $(PYTHON) cannot create a virtual environment (no venv or ensurepip module): install python3-venv \
	(Debian, Ubuntu) or run make PYTHON=<a Python 3.11 or later that has them>

.PHONY: demo test lint bench clean

# Debian ships venv's pip bootstrap (ensurepip) apart, in python3-venv: without it `python3 -m venv` fails.
$(PY):
	@command -v git >/dev/null || { $(SUDO) apt-get update -qq && $(APT_INSTALL) git; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || ! command -v apt-get >/dev/null \
		|| { $(SUDO) apt-get update -qq && $(APT_INSTALL) python3-venv; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { echo "make: $(NO_VENV)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# What `stack-v2 demo` and `stack-v2 build` need: the project alone, editable.
$(VENV)/.installed-base: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

# The tests' extras on top (TensorFlow, torch, transformers, Beam's GCP and Dask runners, ...): a superset of
# the base install, so it counts as that too.
$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(VENV)/bin/stack-v2 demo --workdir demo-output

test: $(VENV)/.installed-test
	@# The tests run the real ClamAV (clamd, clamscan) and open the HTML report in headless Chromium.
	@{ command -v clamscan && { command -v clamd || test -x /usr/sbin/clamd; } && command -v chromium; } >/dev/null \
		|| { $(SUDO) apt-get update -qq && $(APT_INSTALL) clamav clamav-daemon chromium; }
	$(PY) -m pytest -q -p no:cacheprovider

# ruff: the lint rules and the formatting of pyproject.toml's [tool.ruff]
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.installed-base
	$(PY) benchmarks/bench_build.py --workdir benchmarks/out

clean:
	rm -rf $(VENV) demo-output benchmarks/out
