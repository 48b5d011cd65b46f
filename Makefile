# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_ORDERS ?= 500

.PHONY: run test lint format check bench bench-inventory clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## make run: install, migrate, seed demo data once, print the demo login, serve on 127.0.0.1:8000
run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --if-empty --orders $(DEMO_ORDERS)
	$(PY) manage.py create_demo_logins
	$(PY) manage.py runembedded 127.0.0.1:8000

## make test: the whole test suite (SQLite unless DATABASE_URL is set)
test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: $(VENV)/.installed
	$(PY) manage.py makemigrations --check --dry-run

## make bench: the admin order-list benchmark on 1,000,000 orders (PostgreSQL)
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/oms_bench
bench: $(VENV)/.installed
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/admin_order_list.py

## make bench-inventory: allocation throughput beside pgbench, and the daily check at scale
BENCH_INV_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/oms_bench_inv
bench-inventory: $(VENV)/.installed
	DATABASE_URL=$(BENCH_INV_DATABASE_URL) $(PY) bench/allocation.py
	DATABASE_URL=$(BENCH_INV_DATABASE_URL) $(PY) bench/inventory_check.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
