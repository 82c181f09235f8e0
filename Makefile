# DevSpark Playground. `make run` and `make test` work on a fresh Debian machine.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := bubblewrap libseccomp2 util-linux nodejs runsc
BENCH_APT_PACKAGES := wrk
TEST_APT_PACKAGES := chromium
SANDBOX_USER := devspark-sandbox

.PHONY: install system-deps python-deps run demo test pytest lint typecheck format bench clean

install: system-deps python-deps

# $(call apt_install,PACKAGES): install the Debian packages among PACKAGES that are missing.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing apt packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	fi
endef

system-deps:
	$(call apt_install,$(APT_PACKAGES))
	@if [ "$$(id -u)" = 0 ] && ! id $(SANDBOX_USER) >/dev/null 2>&1; then \
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin $(SANDBOX_USER); \
		echo "created sandbox user $(SANDBOX_USER)"; \
	fi

python-deps:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

# The server with the embedded SQLite database in $(DATA_DIR), seeded on first start
# (baselines, a running ladder, an admin login printed once). Development mode: the
# signing key is generated into $(DATA_DIR)/dev-secret-key; set DEVSPARK_SECRET_KEY
# and leave DEVSPARK_DEV unset in production.
DATA_DIR ?= .devspark-data
HOST ?= 127.0.0.1
PORT ?= 8000

run: install
	DEVSPARK_DEV=1 $(BIN)/devspark serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

# A sandboxed tour of every scenario with its baselines, in the terminal.
demo: install
	$(BIN)/devspark demo

lint: python-deps
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

typecheck: python-deps
	$(BIN)/mypy

format: python-deps
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# The dashboard's browser tests drive Debian's chromium (never a downloaded browser).
# Security tests count the sandbox user's processes, so they run alone, after the rest.
pytest: install
	$(call apt_install,$(TEST_APT_PACKAGES))
	$(BIN)/pytest -n 2 -m "not security"
	$(BIN)/pytest -m security -p no:xdist

test: install lint pytest

# benchmarks/scale.py runs at 100,000 matches here (its own default, the issue's million,
# takes 3-5 minutes on 2 cores; docs/architecture.md "Scale" gives its figures).
bench: install
	$(call apt_install,$(BENCH_APT_PACKAGES))
	@for b in benchmarks/[!_]*.py; do echo "== $$b"; \
		BENCH_SCALE_MATCHES=100000 $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
