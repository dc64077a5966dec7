# make run   — set up (venv, install, migrate) and start the bot; no tokens → terminal chat
# make test  — set up and run every test
# make lock  — re-resolve requirements.lock from pyproject.toml (after adding or raising a dependency)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

UV := $(VENV)/bin/uv

.PHONY: run test setup migrate bench lock clean

# The exact versions the tests ran with (requirements.lock, hashes checked), then the bot
# itself without resolving anything again. Re-run whenever pyproject.toml or the lock changes.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

migrate: setup
	$(PY) -m bot migrate

run: setup
	$(PY) -m bot run

test: setup
	$(PY) -m pytest -q -rs -n 2

bench: setup
	$(PY) -m bench

$(UV):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv

# Every platform and Python >= 3.11 (markers), runtime and the test extra, with hashes. Pins
# already in the lock are kept; to move one: make lock LOCK_FLAGS="--upgrade-package NAME".
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra test --universal --python-version 3.11 \
		--generate-hashes --quiet $(LOCK_FLAGS) -o requirements.lock

clean:
	rm -rf $(VENV) data
