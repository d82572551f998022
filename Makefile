# One command per habit, the same locally and in CI.
# Everything runs in .venv, built from uv.lock; `make setup` is idempotent and cheap when done.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := .tools/bin/uv
endif
RUN := $(UV) run --frozen --no-sync

.PHONY: setup system fmt lint typecheck test check bench demo screenshots clean

setup: .venv/.synced

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv>=0.5"

# Bytecode is compiled at install time: environments with PYTHONDONTWRITEBYTECODE=1 (this one)
# would otherwise recompile every dependency from source on every start (~0.3 s for SQLAlchemy).
.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	.venv/bin/python -m compileall -q src
	@touch $@

# Debian packages the tests need (a JRE, chromium), installed only when missing.
system:
	bash .ci/system-packages

fmt: setup
	$(RUN) ruff format src tests bench examples scripts
	$(RUN) ruff check --fix src tests bench examples scripts

lint: setup
	$(RUN) ruff format --check src tests bench examples scripts
	$(RUN) ruff check src tests bench examples scripts
	$(RUN) lint-imports

typecheck: setup
	$(RUN) mypy

# The whole check: lint, types, tests. This is what CI runs.
# The tests that start Ray clusters run in a pytest process of their own, after the rest.
test: system lint typecheck
	$(RUN) pytest -q -m "not ray"
	$(RUN) pytest -q -m ray

check: test

# flytekit, Prefect and Dagster go into their own environment, bench/.venv-compare, from pinned
# requirements, installed only when missing or when the requirements changed; compiled to
# bytecode like .venv, so their start-up is not inflated by compiling from source on every run. If that fails the
# suite still runs and their rows say "not available" (the log: bench/.venv-compare.log).
bench: setup system
	@cmp -s bench/compare/requirements.txt bench/.venv-compare/requirements.txt || { \
	  echo "installing the comparison environment bench/.venv-compare (log: bench/.venv-compare.log)"; \
	  { rm -rf bench/.venv-compare && \
	    $(UV) venv --quiet --python $(PYTHON) bench/.venv-compare && \
	    $(UV) pip install --quiet --compile-bytecode --python bench/.venv-compare/bin/python -r bench/compare/requirements.txt && \
	    cp bench/compare/requirements.txt bench/.venv-compare/requirements.txt; \
	  } > bench/.venv-compare.log 2>&1 || echo "comparison environment not installed: see bench/.venv-compare.log"; \
	}
	$(RUN) python -m bench

# The example workflow: its hooks, a preview of overrides, then two real runs and `explain`.
# State goes to .retune-demo/ so the demo never touches ~/.retune.
demo: setup
	RETUNE_HOME=$(CURDIR)/.retune-demo $(RUN) python examples/demo.py

clean:
	rm -rf .venv .tools .mypy_cache .ruff_cache .pytest_cache .hypothesis .retune-demo

# PNGs of the web UI for the README (docs/images/), taken in Debian's Chromium from a real
# retune serve + worker running examples/training.py.
screenshots: setup system
	$(RUN) python scripts/screenshots.py

