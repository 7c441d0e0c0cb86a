# Newcomer entry points: `make demo` and `make test` each build .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest clean system-deps bench bench-deps

# Everything is installed from the locks `make lock` writes, hash-checked, with no resolution:
# requirements-install.lock (pip, setuptools, wheel: the locked pip installs the rest, twice as
# fast as the venv's own, and the project is built without fetching anything), then
# requirements.lock (the runtime) and requirements-dev.lock (the same pins plus the test and
# development tools); the Dockerfile installs the first two. -qq: pip warns about every package
# an extra index of a local pip.conf does not have; errors still show. `pip check` catches a
# dependency added to pyproject.toml but not to the locks.
$(STAMP): pyproject.toml requirements-install.lock requirements.lock requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --require-hashes --no-deps -r requirements-install.lock
	$(BIN)/python -m pip install -qq --require-hashes --no-deps -r requirements.lock -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
	  echo "pyproject.toml needs a package the locks do not have: run make lock"; exit 1; }
	@touch $@

# Regenerate the locks with uv (pinned; installed with pip) for CPython 3.11 on x86_64 Linux,
# from PyPI (uv does not read pip's configuration, so no local mirror ends up in a lock), keeping
# every pin that still fits; `make lock UPGRADE=--upgrade` (or --upgrade-package NAME) moves on.
# Each lock is constrained by the ones before it: their shared pins are the same.
UV_VERSION := 0.13.9
UPGRADE    ?=
LOCK_OPTIONS := --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command 'make lock' --quiet $(UPGRADE)

.PHONY: lock audit
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile --group install $(LOCK_OPTIONS) -o requirements-install.lock
	$(BIN)/uv pip compile pyproject.toml -c requirements-install.lock $(LOCK_OPTIONS) -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra test --group dev -c requirements-install.lock \
	  -c requirements.lock $(LOCK_OPTIONS) -o requirements-dev.lock

demo: $(STAMP)
	$(BIN)/gateway demo

test: system-deps lint typecheck audit pytest

# Debian packages the tests run for real:
#   redis-server  the shared store (idempotency, read cache, rate limits)
#   haproxy       the load balancer in front of two replicas (tests/e2e/test_haproxy_two_replicas.py)
#   chromium      a headless browser that renders /docs offline (tests/e2e/test_docs_page_in_chromium.py)
DEBIAN_PACKAGES := redis-server haproxy chromium

system-deps:
	@missing=""; for package in $(DEBIAN_PACKAGES); do \
	  dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

# `make bench`: the speed targets against anchors measured in the same run (bench/, README
# "Benchmarks"); prints the table and writes bench/results/latest.md. Its own Debian packages,
# not the tests': wrk (the load), nginx (anchor A1), redis-server and haproxy (writes and
# scale-out); and py-spy (a profile of each missed target) in the venv.
BENCH_DEBIAN_PACKAGES := wrk nginx redis-server haproxy
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet 'py-spy>=0.3.14'
	@touch $@

bench-deps:
	@missing=""; for package in $(BENCH_DEBIAN_PACKAGES); do \
	  dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

bench: bench-deps $(BENCH_STAMP)
	$(BIN)/python -m bench --readme

lint: $(STAMP)
	$(BIN)/ruff check gateway tests bench
	$(BIN)/ruff format --check gateway tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Known vulnerabilities in every locked package, from PyPI (tests/support/audit.py runs pip-audit;
# --strict: a package that cannot be audited, or PyPI out of reach, fails the step). Named here:
# the pins PyPI's answers reachable from CI cannot vouch for (only each project's latest release
# is described there, and these are not the latest: deprecated 3.x needs Python 3.12,
# ivcap-client holds python-dateutil below 2.9). Each is reported as NOT AUDITED.
AUDIT_UNAUDITED := deprecated==1.3.1 python-dateutil==2.8.2

audit: $(STAMP)
	$(BIN)/python -m tests.support.audit --strict --disable-pip --require-hashes --progress-spinner off \
	  -r requirements-install.lock -r requirements.lock -r requirements-dev.lock \
	  $(addprefix --accept-unaudited=,$(AUDIT_UNAUDITED))

pytest: $(STAMP)
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
