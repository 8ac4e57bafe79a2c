# The two commands in the README: `make demo` and `make test`.
#
# What a machine installs is pinned by requirements.lock (every runtime and test dependency, with
# hashes), generated from pyproject.toml's ranges by `make lock`. pyproject.toml keeps compatible
# ranges for people who `pip install` the package; `make test-latest` runs the suite against the
# newest versions those ranges allow, so upstream drift is found on purpose, not by accident.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
DEMO_DIR ?= .demo/store
# pytest workers: the suite waits on locks, rate limits and subprocesses more than on the CPU,
# so it runs more workers than a 2-core machine has cores.
WORKERS ?= 6
# The suite starts `python -m reconciler` a few hundred times: without cached bytecode each start
# compiles the package again, and each pytest worker rewrites every test module's asserts again.
# An environment that turns bytecode caching off (many CI images do) would pay that on every start.
unexport PYTHONDONTWRITEBYTECODE

LATEST_VENV := .venv-latest
LOCK_TOOLS  := .venv-lock

.PHONY: demo test lint typecheck unit bench clean venv lock test-latest _lint _typecheck _warm _unit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python $(LOCK) pyproject.toml
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP) _lint
typecheck: $(STAMP) _typecheck
unit: $(STAMP) _unit

# lint and types run beside the tests' warm-up (make -j): the suite is what takes the time. The
# underscored targets assume an installed venv, so that the parallel sub-make never installs.
test: $(STAMP)
	$(MAKE) --no-print-directory -j 3 _lint _typecheck _unit

_lint:
	$(BIN)/ruff check reconciler tests benchmarks
	$(BIN)/lint-imports

_typecheck:
	$(BIN)/mypy

# Bytecode of the package and of the rewritten test modules, made once before the workers start
# (otherwise every worker rewrites all test modules itself).
_warm:
	$(BIN)/python -m compileall -q reconciler
	$(BIN)/pytest -q --collect-only -p no:cacheprovider > $(VENV)/collect.log || (cat $(VENV)/collect.log; exit 1)

_unit: _warm
	$(BIN)/pytest -q -n $(WORKERS)

demo: $(STAMP)
	RECONCILER_DEMO_STORE=$(DEMO_DIR) $(BIN)/python -m reconciler.demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Refresh the lock from pyproject.toml's ranges (a deliberate commit of its own). uv runs from a
# tools venv of its own, so it never lands in the project's environment.
lock:
	[ -x $(LOCK_TOOLS)/bin/uv ] || ($(PYTHON) -m venv $(LOCK_TOOLS) && $(LOCK_TOOLS)/bin/pip install --quiet uv)
	$(LOCK_TOOLS)/bin/uv pip compile pyproject.toml --extra test --generate-hashes --universal \
		--python-version 3.11 --upgrade --custom-compile-command "make lock" --quiet -o $(LOCK)

# The suite against the newest releases pyproject.toml allows, in a venv of its own (.venv-latest).
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[test]'
	$(LATEST_VENV)/bin/ruff check reconciler tests benchmarks
	$(LATEST_VENV)/bin/lint-imports
	$(LATEST_VENV)/bin/mypy
	RECONCILER_UNLOCKED=1 $(LATEST_VENV)/bin/pytest -q -n $(WORKERS)

clean:
	rm -rf $(VENV) $(LATEST_VENV) $(LOCK_TOOLS) .demo .mypy_cache .ruff_cache .pytest_cache
