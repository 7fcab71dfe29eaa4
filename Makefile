# The two commands of the README: `make demo` and `make test`. Both set everything up themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock demo test check lint types fmt clean chromium

# Every dependency comes from requirements.lock: exact versions with their hashes, so a fresh machine installs
# what the suite last passed on. `make lock` remakes it after a change to pyproject.toml's ranges.
UV_VERSION := 0.13.8

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "CEM needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	@touch $(STAMP)

install: $(STAMP)

# Remake the lock from pyproject.toml (newest versions its ranges allow), then run `make test` on it.
# `make lock UPGRADE=redis` moves one package only; without UPGRADE, pins already in the lock are kept.
UV := $(VENV)/uv-tool/bin/uv
lock:
	@test -x $(UV) || $(PYTHON) -m pip install --quiet --target $(VENV)/uv-tool "uv==$(UV_VERSION)"
	$(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes --quiet \
	  $(if $(UPGRADE),--upgrade-package $(UPGRADE)) --output-file requirements.lock

demo: install
	$(BIN)/cem demo

check: lint types

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy

# The client tests look at the Flet apps in headless Chromium (CEM_CHROMIUM may name another binary).
chromium:
	@test -n "$$CEM_CHROMIUM" || command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium for the UI tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || { \
	  echo "the UI tests need Chromium: apt-get install chromium, or set CEM_CHROMIUM" >&2; exit 1; }

test: check chromium
	$(BIN)/pytest

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .cem-demo .mypy_cache .ruff_cache .pytest_cache
