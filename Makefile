# Pixie — the two commands: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: run test lint typecheck pytest lock clean

# Browser tests drive Debian's Chromium through Playwright; the browser is never downloaded by a test tool.
CHROMIUM := /usr/bin/chromium

$(VENV)/.installed-run: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[server]'
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[server,test]'
	touch $@ $(VENV)/.installed-run

# `make run PORT=8080` serves the demo on another port.
run: $(VENV)/.installed-run
	$(VENV)/bin/pixie demo$(if $(PORT), --port $(PORT))

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples

typecheck: $(VENV)/.installed-test
	$(VENV)/bin/mypy --strict src

$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null

# Third-party clients (oauth4webapi, openid-client) for the interoperability tests, from the npm registry.
tests/interop/node_modules/.installed: tests/interop/package.json tests/interop/package-lock.json
	cd tests/interop && npm ci --no-audit --no-fund --silent
	touch $@

pytest: $(VENV)/.installed-test $(CHROMIUM) tests/interop/node_modules/.installed
	$(VENV)/bin/pytest

test: lint typecheck pytest

# Re-pin constraints.txt from a fresh resolution of pyproject.toml, every extra included (run on purpose, then commit).
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet -e '.[server,fastapi,test,bench,mcp]'
	.lockvenv/bin/pip freeze --exclude-editable | grep -v '^pixie' > constraints.txt
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
