# Two commands matter: `make demo` and `make test`. Everything they need is installed from here.
PYTHON ?= python3.11
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test setup bytecode system-deps services lint typecheck imports unit snapshot-openapi clean

demo: setup
	$(VENV)/bin/okr-hub demo

test: setup services lint typecheck imports unit

setup: system-deps $(VENV)/.synced bytecode

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (these machines set
# it), Python never caches what it compiles, and every process (each Dagster run, API worker,
# sandbox, test worker) compiled the whole stack from source again: about 2 s of CPU per
# process start, measured (5.0 s against 2.9 s to import the API and the Dagster definitions).
$(VENV)/.synced: pyproject.toml uv.lock Makefile | $(UV)
	$(UV) sync --frozen --python $(PYTHON) --compile-bytecode
	touch $@

# The project's own modules, on every setup (compileall skips those already up to date; an
# edited module's stale bytecode is never used: Python checks the source's time and size).
bytecode: $(VENV)/.synced
	$(VENV)/bin/python -m compileall -q okr_core okr_api okr_pipelines okr_sandboxes

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
