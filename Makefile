# Vrijwilligersmarkt — the two set-up commands are `make run` and `make test` (see README.md).

PYTHON        ?= python3.11
VENV          ?= .venv
PY            := $(VENV)/bin/python
PIP           := $(PY) -m pip
HOST          ?= 127.0.0.1
PORT          ?= 8000
DEMO_PASSWORD ?= demo-markt-2026
DEMO_CLIENTS  ?= 40
PYTEST_ARGS   ?=
BENCH_ARGS    ?=

# Installs are keyed on the content of pyproject.toml: a stamp file holds its hash, so a second
# `make run`/`make test` skips pip entirely until the dependencies change.
RUN_STAMP     := $(VENV)/.installed-run
DEV_STAMP     := $(VENV)/.installed-dev
DEPS_HASH      = $(shell sha256sum pyproject.toml | cut -c1-64)

VENDOR        := backend/static/vendor

.DEFAULT_GOAL := help
SHELL         := /bin/bash
.SHELLFLAGS   := -eu -o pipefail -c
.PHONY: help venv install install-dev messages migrate seed run test bench vendor clean-venv

help:
	@echo "make run     install, migrate the SQLite db, seed the demo, start daphne on http://$(HOST):$(PORT)"
	@echo "make test    install the dev dependencies and run the whole test suite (PYTEST_ARGS=...)"
	@echo "make bench   run the benchmarks (bench/run.py, or one: make bench BENCH=redeem)"
	@echo "make vendor  refresh backend/static/vendor/ from package-lock.json (npm ci)"

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

venv: $(PY)

install: $(PY)
	@if [ "$$(cat $(RUN_STAMP) 2>/dev/null)" != "$(DEPS_HASH)" ] && [ "$$(cat $(DEV_STAMP) 2>/dev/null)" != "$(DEPS_HASH)" ]; then \
		echo ">> installing the project (pyproject.toml changed or first run)"; \
		$(PIP) install --quiet --disable-pip-version-check -e .; \
		echo "$(DEPS_HASH)" > $(RUN_STAMP); \
	fi

install-dev: $(PY)
	@if [ "$$(cat $(DEV_STAMP) 2>/dev/null)" != "$(DEPS_HASH)" ]; then \
		echo ">> installing the project with its dev dependencies"; \
		$(PIP) install --quiet --disable-pip-version-check -e ".[dev]"; \
		echo "$(DEPS_HASH)" > $(DEV_STAMP); \
	fi

# Translations: compiled only when a locale/ directory exists (needs Debian's gettext: msgfmt).
messages:
	@if [ -d locale ]; then \
		command -v msgfmt >/dev/null || { echo "error: msgfmt not found; install gettext (apt-get install gettext)" >&2; exit 1; }; \
		$(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules -v 0; \
	fi

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --password "$(DEMO_PASSWORD)" --clients $(DEMO_CLIENTS)

run: install
	@if [ -d locale ] && command -v msgfmt >/dev/null; then $(MAKE) --no-print-directory messages; \
	elif [ -d locale ]; then echo "warning: msgfmt not found, translations not compiled (apt-get install gettext)"; fi
	@DEBUG=1 $(PY) manage.py migrate --noinput
	@DEBUG=1 $(PY) manage.py seed_demo --password "$(DEMO_PASSWORD)" --clients $(DEMO_CLIENTS)
	@echo ""
	@echo "Vrijwilligersmarkt runs on http://$(HOST):$(PORT)/"
	@echo "  home              http://$(HOST):$(PORT)/"
	@echo "  log in            http://$(HOST):$(PORT)/login/"
	@echo "  entrance scanner  http://$(HOST):$(PORT)/scan/"
	@echo "  dashboard         http://$(HOST):$(PORT)/dashboard/"
	@echo "  kiosk (tablet)    http://$(HOST):$(PORT)/kiosk/"
	@echo "  admin             http://$(HOST):$(PORT)/admin/"
	@echo "  API docs          http://$(HOST):$(PORT)/api/v1/docs"
	@echo "Demo logins: coordinator, consultant, host, mediator — password: $(DEMO_PASSWORD)"
	@echo "Stop with Ctrl+C."
	@echo ""
	DEBUG=1 PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)} \
		exec $(PY) -m daphne -b $(HOST) -p $(PORT) backend.asgi:application

# Fails loudly: any failing test, a collection error or "no tests ran" (pytest exit 5) fails make.
test: install-dev messages
	$(PY) -m pytest $(PYTEST_ARGS)

# `make bench` runs bench/run.py (all benchmarks) when it exists; `make bench BENCH=redeem` runs
# one script (bench/redeem.py) with BENCH_ARGS. Numbers go to bench/README.md.
BENCH ?=
bench: install-dev
	@if [ -n "$(BENCH)" ]; then $(PY) bench/$(BENCH).py $(BENCH_ARGS); \
	elif [ -f bench/run.py ]; then $(PY) bench/run.py $(BENCH_ARGS); \
	else echo "bench/run.py does not exist; run one benchmark with make bench BENCH=<name>:"; \
		ls bench/*.py | grep -v -e common.py -e __init__.py | sed 's|bench/\(.*\)\.py|  \1|'; fi

# Vendored browser libraries (pinned in package.json / package-lock.json). The copies under
# backend/static/vendor/ are committed: running the project never needs npm or a CDN.
vendor:
	npm ci --ignore-scripts --no-audit --no-fund
	rm -rf $(VENDOR)/jsqr $(VENDOR)/axe-core
	mkdir -p $(VENDOR)/jsqr $(VENDOR)/axe-core
	cp node_modules/jsqr/dist/jsQR.js node_modules/jsqr/LICENSE $(VENDOR)/jsqr/
	cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE $(VENDOR)/axe-core/
	node -e 'const l = require("./package-lock.json").packages; for (const n of ["jsqr", "axe-core"]) console.log(n, l["node_modules/" + n].version, l["node_modules/" + n].integrity)' > $(VENDOR)/VERSIONS.txt
	@cat $(VENDOR)/VERSIONS.txt

clean-venv:
	rm -rf $(VENV)
