# ComplaintDesk: `make run` serves the demo, `make test` runs every check.
# Each target installs what it needs first (uv from PyPI, then the locked dependencies).

PYTHON ?= python3
UV := $(PYTHON) -m uv
BIN := .venv/bin

.PHONY: setup run demo test lint types pytest bench clean

setup:
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==0.13.8"
	@$(UV) sync --frozen --quiet

run: setup
	$(BIN)/complaintdesk db upgrade
	$(BIN)/complaintdesk demo --if-empty
	COMPLAINTDESK_NODE_ID=$${COMPLAINTDESK_NODE_ID:-0} $(BIN)/complaintdesk serve --host 127.0.0.1 --port 8000

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest -q

test: lint types pytest

bench: setup
	$(BIN)/python bench/bench_classify.py

clean:
	rm -rf var .venv .pytest_cache .mypy_cache .ruff_cache
