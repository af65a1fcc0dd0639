# regstore's developer and CI entry points. GNU make; needs only python3
# (3.11+, with venv and pip). `make help` lists the targets.
#
#   make run     the filesystem driver end to end: check + a quick bench
#   make test    lint, types, wheels, every package's tests in fresh venvs
#
# Plugins are the folders plugins/*/ that hold a pyproject.toml, except the
# template; a new one is picked up with no change here.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.regstore-sync

PLUGINS := $(sort $(filter-out _template,$(patsubst plugins/%/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))))
PLUGIN_TEST_REQS := $(wildcard $(PLUGINS:%=plugins/%/requirements-test.txt))
# Everything make sync installs from: change one and the next target re-syncs.
SYNC_INPUTS := requirements/dev.txt core/pyproject.toml $(PLUGINS:%=plugins/%/pyproject.toml) $(PLUGIN_TEST_REQS)

# Plugins whose tests need npm packages (azure: the Azurite emulator) keep a
# package.json and package-lock.json; `npm ci` installs them into the
# plugin's node_modules/, again only when the lock changes. The tests find
# them there (relative to their own folder, also when run from wheels).
NPM_PLUGINS := $(patsubst plugins/%/package-lock.json,%,$(wildcard $(PLUGINS:%=plugins/%/package-lock.json)))
NPM_STAMPS := $(NPM_PLUGINS:%=plugins/%/node_modules/.regstore-npm-ci)

# mypy sees every package's source by its import name, tests as files.
MYPYPATH_ALL := $(subst $() ,:,core/src $(wildcard plugins/*/src))
TYPECHECK_DIRS := $(wildcard core/src core/tests $(PLUGINS:%=plugins/%/src) $(PLUGINS:%=plugins/%/tests) plugins/_template/src plugins/_template/tests tests scripts benchmarks)

SECTION := bash scripts/section.sh
WHEEL_TEST := bash scripts/wheel-test.sh
# The sources a wheel is built from: change one and make build rebuilds.
# The core wheel also carries the driver template (regstore new-driver).
BUILD_INPUTS := $(shell find core/src $(PLUGINS:%=plugins/%/src) plugins/_template -type f -not -path '*/__pycache__/*' 2>/dev/null) \
	$(wildcard core/pyproject.toml core/README.md $(PLUGINS:%=plugins/%/pyproject.toml) $(PLUGINS:%=plugins/%/README.md))

.PHONY: help sync lint typecheck build test test-core test-integration run bench mutation new-plugin clean $(PLUGINS:%=test-%)

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]+):.*## (.*)/  make \1\t\2/' | expand -t 28
	@echo "  make test-<plugin>        core + that plugin's wheel alone in a fresh venv: its tests"
	@echo "                            and the conformance suite (plugins: $(PLUGINS))"

# -- the development environment ---------------------------------------------

sync: $(STAMP) $(NPM_STAMPS)  ## create .venv: pinned tools plus core and every plugin, editable; npm ci where a plugin has a lock

$(STAMP): $(SYNC_INPUTS)
	$(SECTION) "sync .venv" bash -euo pipefail -c '\
	    test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	    $(BIN)/python -m pip install -qq -r requirements/dev.txt $(PLUGIN_TEST_REQS:%=-r %); \
	    $(BIN)/python -m pip install -qq --no-build-isolation -e core $(PLUGINS:%=-e plugins/%)'
	touch $@

plugins/%/node_modules/.regstore-npm-ci: plugins/%/package-lock.json plugins/%/package.json
	$(SECTION) "npm ci plugins/$*" bash -euo pipefail -c 'cd plugins/$* && npm ci --no-audit --no-fund --loglevel=error'
	touch $@

# -- checks ----------------------------------------------------------------------

lint: $(STAMP)  ## ruff check and ruff format --check (both run; either fails it)
	@status=0; \
	$(SECTION) "lint: ruff check" $(BIN)/ruff check . || status=1; \
	$(SECTION) "lint: ruff format --check" $(BIN)/ruff format --check . || status=1; \
	exit $$status

typecheck: $(STAMP)  ## mypy --strict on every package's source and tests
	MYPYPATH=$(MYPYPATH_ALL) $(SECTION) "typecheck: mypy" $(BIN)/mypy $(TYPECHECK_DIRS)

build: dist/.built  ## wheels for core and every plugin into dist/

dist/.built: $(STAMP) $(BUILD_INPUTS)
	rm -rf dist && mkdir -p dist
	$(SECTION) "build wheels" $(BIN)/python -m pip wheel -qq --no-deps --no-build-isolation \
	    --wheel-dir dist ./core $(PLUGINS:%=./plugins/%)
	@ls dist
	touch $@

# -- tests: each package from its wheel, in its own fresh venv --------------------

# Every section runs even when an earlier one failed (one run shows every
# problem), except that nothing can be tested without wheels. The summary
# lists each section's time and result; the exit status is 1 if any failed.
test:  ## lint, typecheck, build, then every package's tests from its wheel
	@mkdir -p .venvs; log=$(CURDIR)/.venvs/sections.tsv; rm -f $$log; failed=""; \
	for target in sync lint typecheck build test-core $(PLUGINS:%=test-%) test-integration; do \
	    if ! SECTION_LOG=$$log $(MAKE) $$target; then \
	        failed="$$failed $$target"; \
	        if [[ $$target == sync || $$target == build ]]; then break; fi; \
	    fi; \
	done; \
	printf '\n\033[1m==== make test summary ====\033[0m\n'; \
	if [[ -f $$log ]]; then awk -F'\t' '{ printf "  %-7s %7ss  %s\n", $$2, $$1, $$3; total += $$1 } \
	    END { printf "  %-7s %7.1fs\n", "total", total }' $$log; fi; \
	if [[ -n $$failed ]]; then echo "make test: FAILED:$$failed" >&2; exit 1; fi; \
	echo "make test: all sections passed"

test-core: build  ## core's unit tests: core wheel (+ inmemory and filesystem, which transfer tests use)
	$(SECTION) "test core (wheel, fresh venv)" $(WHEEL_TEST) core core/tests regstore $(if $(filter inmemory,$(PLUGINS)),regstore_inmemory) $(if $(filter filesystem,$(PLUGINS)),regstore_filesystem)

$(NPM_PLUGINS:%=test-%): test-%: plugins/%/node_modules/.regstore-npm-ci
# Wheels a plugin's tests need besides core and the plugin itself: the
# cloudfront middleware is tested over the real s3 driver (on moto), and s3's
# tests copy a registry tree from and to the filesystem driver.
EXTRA_DISTS_cloudfront := regstore_s3
EXTRA_DISTS_s3 := regstore_filesystem

$(PLUGINS:%=test-%): test-%: build
	$(SECTION) "test $* (wheels, fresh venv)" $(WHEEL_TEST) $* plugins/$*/tests regstore $(EXTRA_DISTS_$*) regstore_$*

test-integration: build  ## tests/: third-party plugin, discovery conflicts, import hygiene
	PIP_EXTRA="$(shell grep -i -E '^(hatchling|editables|packaging|pathspec|pluggy|trove-classifiers)==' requirements/dev.txt | tr '\n' ' ')" \
	REGSTORE_DIST=$(CURDIR)/dist \
	$(SECTION) "test integration (tests/, wheels, fresh venv)" $(WHEEL_TEST) integration tests regstore $(PLUGINS:%=regstore_%)

# -- using it ------------------------------------------------------------------------

run: $(STAMP)  ## check and benchmark the filesystem driver in a temporary directory
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	printf '\n\033[1m==== regstore drivers ====\033[0m\n'; \
	$(BIN)/regstore drivers; \
	printf '\n\033[1m==== regstore check filesystem ====\033[0m\n'; \
	$(BIN)/regstore check filesystem -p rootdirectory=$$tmp/check; \
	printf '\n\033[1m==== regstore bench filesystem --quick ====\033[0m\n'; \
	$(BIN)/regstore bench filesystem -p rootdirectory=$$tmp/bench --quick

# Each Python baseline (s3fs, adlfs, gcsfs) gets its own venv, so a
# benchmark never pins the drivers' dependencies.
BENCH_VENVS := s3fs adlfs gcsfs

$(BENCH_VENVS:%=.venvs/bench-%/.synced): .venvs/bench-%/.synced: requirements/bench-%.txt
	rm -rf .venvs/bench-$* && $(PYTHON) -m venv .venvs/bench-$*
	.venvs/bench-$*/bin/python -m pip install -qq -r requirements/bench-$*.txt
	touch $@

# rclone, the baseline of `regstore copy`: Debian's package, pinned.
RCLONE_DEB := rclone=1.60.1+dfsg-2+b5

.venvs/.rclone:
	command -v rclone >/dev/null || { apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(RCLONE_DEB); }
	@mkdir -p .venvs && touch $@

bench: $(STAMP) $(NPM_STAMPS) $(BENCH_VENVS:%=.venvs/bench-%/.synced) .venvs/.rclone  ## every benchmark, figures against baselines
	@printf '\n\033[1m==== benchmarks/filesystem.py ====\033[0m\n'
	$(BIN)/python benchmarks/filesystem.py
	@printf '\n\033[1m==== benchmarks/s3.py (moto) ====\033[0m\n'
	$(BIN)/python benchmarks/s3.py --size 1GiB --s3fs-python .venvs/bench-s3fs/bin/python
	@printf '\n\033[1m==== benchmarks/azure.py (Azurite) ====\033[0m\n'
	$(BIN)/python benchmarks/azure.py --size 1GiB --adlfs-python .venvs/bench-adlfs/bin/python
	@printf '\n\033[1m==== benchmarks/gcs.py (fake-gcs-server) ====\033[0m\n'
	$(BIN)/python benchmarks/gcs.py --size 1GiB --gcsfs-python .venvs/bench-gcsfs/bin/python
	@printf '\n\033[1m==== benchmarks/transfer.py (regstore copy vs rclone, filesystem to moto) ====\033[0m\n'
	$(BIN)/python benchmarks/transfer.py

# Not part of `make test`: about 5 minutes on 2 cores (see scripts/mutation/run.py).
mutation: $(STAMP)  ## [MUTANTS=id,fs-*]: hand-written mutants vs the conformance suite, kill rate
	$(BIN)/python scripts/mutation/run.py $(if $(MUTANTS),--mutants '$(MUTANTS)')

new-plugin:  ## NAME=x [DEST=dir]: a new driver package from plugins/_template
	@test -n "$(NAME)" || { echo "usage: make new-plugin NAME=x [DEST=dir]" >&2; exit 2; }
	$(PYTHON) scripts/new_plugin.py "$(NAME)" $(if $(DEST),--dest "$(DEST)")

clean:  ## remove build output and the test venvs (keeps .venv)
	rm -rf dist build .venvs
