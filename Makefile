# Two commands matter: `make demo` and `make test`. Everything they need is installed from here.
PYTHON ?= python3.11
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test setup system-deps services lint typecheck imports unit snapshot-openapi clean

demo: setup
	$(VENV)/bin/okr-hub demo

test: setup services lint typecheck imports unit

setup: system-deps $(VENV)/.synced

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

system-deps:
	./scripts/system-deps.sh

services:
	./scripts/services.sh

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy

imports:
	$(VENV)/bin/lint-imports

unit:
	$(VENV)/bin/pytest -n 2 --dist loadgroup

# Refresh the public API's v1 contract snapshot (docs/api/openapi-v1.json) after an additive
# change; it refuses while the spec breaks the committed snapshot (docs/api-versioning.md).
snapshot-openapi: $(VENV)/.synced
	$(VENV)/bin/python -m okr_api.public.contract --write

clean:
	rm -rf $(VENV) .tools var test-artifacts .pytest_cache .mypy_cache .ruff_cache
