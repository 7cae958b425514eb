# ComplaintDesk: `make run` serves the demo, `make test` runs every check.
# Each target installs what it needs first (uv from PyPI, then the locked dependencies).

PYTHON ?= python3
UV := $(PYTHON) -m uv
BIN := .venv/bin

.PHONY: setup run demo test lint types pytest bench clean messages browser-deps schemathesis reliability

setup:
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==0.13.8"
	@$(UV) sync --frozen --quiet

run: setup
	$(BIN)/complaintdesk db upgrade
	$(BIN)/complaintdesk demo --if-empty
	@echo "ComplaintDesk: sign in at http://127.0.0.1:8000/signin (API docs: /docs, /redoc)"
	COMPLAINTDESK_NODE_ID=$${COMPLAINTDESK_NODE_ID:-0} $(BIN)/complaintdesk serve --host 127.0.0.1 --port 8000

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest -q

# The browser tests drive Debian's Chromium (never a downloaded browser); CJK fonts
# make the Chinese pages readable in their screenshots.
browser-deps:
	@dpkg -s chromium fonts-noto-cjk >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; }

test: lint types browser-deps pytest

bench: setup
	$(BIN)/python bench/bench_classify.py

# Not part of `make test` (minutes each); figures in docs/operations.md.
# Schemathesis against the OpenAPI document, in-process, on a throw-away SQLite database
# with the demo company, as every role and as nobody (SCHEMATHESIS_ARGS, e.g. --database postgresql).
schemathesis: setup
	$(BIN)/python bench/schemathesis_run.py $(SCHEMATHESIS_ARGS)

# SIGKILLs of `serve --workers 2` under concurrent creates on a throw-away PostgreSQL
# database (RELIABILITY_ARGS; the PostgreSQL restart round: see docs/operations.md).
reliability: setup
	$(BIN)/python bench/reliability.py $(RELIABILITY_ARGS)

clean:
	rm -rf var .venv .pytest_cache .mypy_cache .ruff_cache

# Re-extract the pages' texts and merge them into the zh / en catalogues (then translate
# the new zh entries; the catalogues are read at start-up, nothing to compile).
messages: setup
	$(BIN)/pybabel extract -F babel.cfg -k t -k N_ -k _ --no-location --sort-output -o var/messages.pot .
	for lang in zh en; do \
	  if [ -f src/complaintdesk/locale/$$lang/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel update -i var/messages.pot -d src/complaintdesk/locale -l $$lang --no-fuzzy-matching --ignore-obsolete; \
	  else \
	    $(BIN)/pybabel init -i var/messages.pot -d src/complaintdesk/locale -l $$lang; \
	  fi; \
	done
