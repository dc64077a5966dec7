# make run   — set up (venv, install, migrate) and start the bot; no tokens → terminal chat
# make test  — set up and run every test
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test setup migrate bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

migrate: setup
	$(PY) -m bot migrate

run: setup
	$(PY) -m bot run

test: setup
	$(PY) -m pytest -q -rs

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) data
