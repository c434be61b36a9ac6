# The two quick-start commands:  `make demo`  and  `make test`.
# Each installs what is missing first (system packages, the venv, the pinned JS toolchain).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST := $(PY) -m pytest -q -p no:cacheprovider
FAULTS_LOG := .faults.log

.PHONY: faults demo test lint typecheck unit bench chaos stack-up stack-down system install clean

demo: $(STAMP)
	$(PY) starter.py demo

# The fault suite (tests/faults: two modules, each on a stack of its own) spends wall time, not
# CPU: proof periods sized for a loaded machine and a 15-minute RPC outage. So it runs in a pytest
# of its own, started first and beside the parallel run of everything else, instead of after it
# or inside its three workers (where one module would hold a worker for 20 minutes and delay the
# files queued behind it). Its report is printed when both are done.
test: $(STAMP) lint typecheck
	@echo "tests/faults runs beside the rest (its report follows; log: $(FAULTS_LOG))"
	@$(PYTEST) -n 2 --dist loadfile -m faults tests/faults > $(FAULTS_LOG) 2>&1 & faults=$$!; \
	$(PYTEST) -n 3 --dist loadfile -m "not faults"; rest=$$?; \
	echo "waiting for tests/faults"; wait $$faults; status=$$?; \
	cat $(FAULTS_LOG); test $$rest -eq 0 && test $$status -eq 0

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

unit: $(STAMP)
	$(PY) -m pytest -q -m "not real_stack and not slow"

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

SEED ?= 1
# The fault-injection suite alone (also part of `make test`): its two modules side by side.
faults: $(STAMP)
	$(PYTEST) -n 2 --dist loadfile -m faults tests/faults

chaos: $(STAMP)
	$(PY) -m deploy.local.chaos --seed $(SEED)

stack-up: $(STAMP)
	$(PY) starter.py stack up

stack-down: $(STAMP)
	$(PY) starter.py stack down

install: $(STAMP)

$(STAMP): pyproject.toml package.json package-lock.json
	./scripts/install-system-packages
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

clean:
	rm -rf $(VENV) node_modules .stack .pytest_cache .mypy_cache .ruff_cache
