# Two commands on a fresh machine: `make demo` (builds a dataset from real code) and `make test`.
# Each creates the virtual environment in .venv when it is missing (or pyproject.toml changed).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	@command -v git >/dev/null || { apt-get update -qq && apt-get install -y -qq git; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/stack-v2 demo --workdir demo-output

test: $(VENV)/.installed
	@# The tests run the real ClamAV (clamd, clamscan) and open the HTML report in headless Chromium.
	@{ command -v clamscan && { command -v clamd || test -x /usr/sbin/clamd; } && command -v chromium; } >/dev/null \
		|| { apt-get update -qq && apt-get install -y -qq --no-install-recommends clamav clamav-daemon chromium; }
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_build.py --workdir benchmarks/out

clean:
	rm -rf $(VENV) demo-output benchmarks/out
