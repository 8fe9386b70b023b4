# Pixie — the two commands: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: run test lint typecheck pytest lock clean js

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

# The browser packages (js/browser, js/react): npm ci, tsc --noEmit, npm pack; then a React 19 app built with esbuild
# against the two tarballs, which tests/browser_sdk serves and drives in Chromium.
NPM_CI := npm ci --no-audit --no-fund --silent
NPM_DIST := build/npm
SDK_APP := tests/browser_sdk/app

js/browser/node_modules/.installed: js/browser/package.json js/browser/package-lock.json
	cd js/browser && $(NPM_CI)
	touch $@

js/react/node_modules/.installed: js/react/package.json js/react/package-lock.json
	cd js/react && $(NPM_CI)
	touch $@

$(SDK_APP)/node_modules/.installed: $(SDK_APP)/package.json $(SDK_APP)/package-lock.json
	cd $(SDK_APP) && $(NPM_CI)
	touch $@

$(NPM_DIST)/pixie-oauth-browser.tgz: js/browser/node_modules/.installed js/browser/package.json \
		$(wildcard js/browser/tsconfig*.json js/browser/src/*.js)
	cd js/browser && npx tsc --noEmit
	rm -rf $(NPM_DIST)/browser && mkdir -p $(NPM_DIST)/browser
	cd js/browser && npm pack --silent --pack-destination $(CURDIR)/$(NPM_DIST)/browser >/dev/null
	mv $(NPM_DIST)/browser/*.tgz $@

$(NPM_DIST)/pixie-oauth-react.tgz: $(NPM_DIST)/pixie-oauth-browser.tgz js/react/node_modules/.installed \
		js/react/package.json $(wildcard js/react/tsconfig*.json js/react/src/*.js)
	cd js/react && npx tsc --noEmit
	rm -rf $(NPM_DIST)/react && mkdir -p $(NPM_DIST)/react
	cd js/react && npm pack --silent --pack-destination $(CURDIR)/$(NPM_DIST)/react >/dev/null
	mv $(NPM_DIST)/react/*.tgz $@

# Development React (process.env.NODE_ENV): StrictMode runs every effect twice only there.
$(SDK_APP)/dist/app.js: $(NPM_DIST)/pixie-oauth-browser.tgz $(NPM_DIST)/pixie-oauth-react.tgz \
		$(SDK_APP)/node_modules/.installed $(SDK_APP)/tsconfig.json $(wildcard $(SDK_APP)/src/*)
	cd $(SDK_APP) && npm install --no-save --no-audit --no-fund --silent \
		$(CURDIR)/$(NPM_DIST)/pixie-oauth-browser.tgz $(CURDIR)/$(NPM_DIST)/pixie-oauth-react.tgz
	cd $(SDK_APP) && npx tsc --noEmit
	cd $(SDK_APP) && npx esbuild src/main.tsx --bundle --format=esm --jsx=automatic --log-level=warning \
		--define:process.env.NODE_ENV='"development"' --outfile=dist/app.js

js: $(SDK_APP)/dist/app.js

pytest: $(VENV)/.installed-test $(CHROMIUM) tests/interop/node_modules/.installed $(SDK_APP)/dist/app.js
	$(VENV)/bin/pytest

test: lint typecheck pytest

# Re-pin constraints.txt from a fresh resolution of pyproject.toml, every extra included (run on purpose, then commit).
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet -e '.[server,fastapi,test,bench]'
	.lockvenv/bin/pip freeze --exclude-editable | grep -v '^pixie' > constraints.txt
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(NPM_DIST) $(SDK_APP)/dist
