# Each target does its own set-up on a bare Debian machine (as root): apt packages, venv, pip install -e .
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint bench clean

setup:
	@VENV=$(VENV) bash scripts/setup.sh

demo: setup
	$(VENV)/bin/iot-harness demo

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) bench/bench.py

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info demo-output
