# Each target does its own set-up on a bare Debian machine (as root): apt packages, venv, pip install -e .
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint bench clean

setup:
	@VENV=$(VENV) bash scripts/setup.sh

demo: setup
	$(VENV)/bin/iot-harness demo

# the full suite, slow cross-checks included (-m "" lifts the default "not slow" filter): the lab
# and unit sessions side by side (scripts/test.sh says why that is safe)
test: setup
	@PY=$(PY) bash scripts/test.sh

bench: setup
	$(PY) bench/bench.py

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info demo-output bench-output
