# The two quick-start commands:  `make demo`  and  `make test`.
# Each installs what is missing first (system packages, the venv, the pinned JS toolchain).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST := $(PY) -m pytest -q -p no:cacheprovider

.PHONY: faults demo test lint typecheck unit bench chaos stack-up stack-down system install clean

demo: $(STAMP)
	$(PY) starter.py demo

# pytest twice at once: the fault suite (tests/faults) beside the parallel run of the rest
# (scripts/run_tests.py says why).
test: $(STAMP) lint typecheck
	$(PY) scripts/run_tests.py

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
