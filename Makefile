# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_ORDERS ?= 500

.PHONY: run test lint format check audit bench bench-inventory bench-shipping bench-notifications bench-intake bench-cockpit bench-network bench-partners clean

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
	$(PY) manage.py runembedded

## make test: the whole test suite (SQLite unless DATABASE_URL is set), one worker process per core
TEST_WORKERS ?= auto
test: $(VENV)/.installed
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: $(VENV)/.installed
	$(PY) manage.py makemigrations --check --dry-run

## make audit: the pins of requirements*.txt behind the newest release on the package index (a report; pip-audit
## for known vulnerabilities where the network allows: docs/operations/security.md)
audit: $(VENV)/.installed
	$(PY) tools/audit_pins.py $(AUDIT_ARGS)

# Benchmarks (bench/README.md): each measures its own baseline in the same run and reports a ratio to it.
# A target with several parts runs every part, then exits non-zero if any of them missed its target.
# Whatever a benchmark queues goes to Redis on a queue of the run's own, deleted at the end.
BENCH_BROKER_URL ?= redis://127.0.0.1:6379/13
## make bench: the admin order-list benchmark on 1,000,000 orders (PostgreSQL; creates, migrates and seeds oms_bench)
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/oms_bench
bench: $(VENV)/.installed
	DATABASE_URL=$(BENCH_DATABASE_URL) CELERY_BROKER_URL=$(BENCH_BROKER_URL) $(PY) bench/admin_order_list.py

## make bench-inventory: allocation throughput beside pgbench, and the daily check at scale (both always run)
BENCH_INV_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/oms_bench_inv
bench-inventory: $(VENV)/.installed
	status=0; \
	DATABASE_URL=$(BENCH_INV_DATABASE_URL) CELERY_BROKER_URL=$(BENCH_BROKER_URL) $(PY) bench/allocation.py || status=$$?; \
	DATABASE_URL=$(BENCH_INV_DATABASE_URL) CELERY_BROKER_URL=$(BENCH_BROKER_URL) $(PY) bench/inventory_check.py || status=$$?; \
	exit $$status

## make bench-shipping: label rendering (alone, and a 500-label batch through Celery on Redis) beside bare
## WeasyPrint, the delivery promise (every part always runs)
BENCH_SHIP_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/oms_bench_ship
BENCH_LABELS_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/oms_bench_labels
bench-shipping: $(VENV)/.installed
	status=0; \
	$(PY) bench/labels.py || status=$$?; \
	DATABASE_URL=$(BENCH_LABELS_DATABASE_URL) CELERY_BROKER_URL=$(BENCH_BROKER_URL) $(PY) bench/label_batch.py || status=$$?; \
	DATABASE_URL=$(BENCH_SHIP_DATABASE_URL) CELERY_BROKER_URL=$(BENCH_BROKER_URL) $(PY) bench/promise.py || status=$$?; \
	exit $$status

## make bench-intake: orders per second through POST /api/v1/orders (gunicorn), routed by a Celery worker on Redis
BENCH_INTAKE_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/oms_bench_intake
BENCH_INTAKE_BROKER_URL ?= redis://127.0.0.1:6379/7
bench-intake: $(VENV)/.installed
	DATABASE_URL=$(BENCH_INTAKE_DATABASE_URL) CELERY_BROKER_URL=$(BENCH_INTAKE_BROKER_URL) $(PY) bench/intake.py

## make bench-notifications: outbox rows to an SMTP sink through one Celery worker on Redis, exactly once, beside
## Django's send_messages() to the same sink
BENCH_NOTIF_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/oms_bench_notif
BENCH_NOTIF_BROKER_URL ?= redis://127.0.0.1:6379/14
bench-notifications: $(VENV)/.installed
	DATABASE_URL=$(BENCH_NOTIF_DATABASE_URL) CELERY_BROKER_URL=$(BENCH_NOTIF_BROKER_URL) $(PY) bench/notifications.py

## make bench-cockpit: the operations cockpit's figures and charts, uncached, for 7 and 90 days, and the console
## home (uncached and cached) on the order-list benchmark's 1,000,000 orders (creates, migrates, seeds oms_bench)
bench-cockpit: $(VENV)/.installed
	DATABASE_URL=$(BENCH_DATABASE_URL) CELERY_BROKER_URL=$(BENCH_BROKER_URL) $(PY) bench/cockpit.py

## make bench-network: a week of 10,000 orders on the demo network through the promise, landed-cost routing and
## carrier choice, beside shipping everything from Edison NJ by ground (a throwaway SQLite database)
bench-network: $(VENV)/.installed
	env -u DATABASE_URL $(PY) bench/network.py

## make bench-partners: releases and ship confirmations per second through each 3PL transport (REST to the simulated
## 3PL over HTTP, CSV and X12 files over a real SFTP server), beside bare urllib POSTs, bare paramiko writes and our
## own warehouse's ship service
BENCH_PARTNERS_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/oms_bench_partners
bench-partners: $(VENV)/.installed
	DATABASE_URL=$(BENCH_PARTNERS_DATABASE_URL) CELERY_BROKER_URL=$(BENCH_BROKER_URL) $(PY) bench/partners.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
