"""The two shapes: embedded defaults with no variables, production with them."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # each test starts a Django process of its own
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'db': s.DATABASES['default']['ENGINE'], 'broker': s.CELERY_BROKER_URL, "
    "'email': s.EMAIL_BACKEND, 'debug': s.DEBUG, 'ops': s.OPS_EMAILS, 'tz': s.TIME_ZONE, "
    "'hosts': s.ALLOWED_HOSTS, 'beat': s.CELERY_BEAT_SCHEDULER}))"
)
VARIABLES = [
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "EMAIL_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "OPS_EMAILS",
    "TIME_ZONE",
    "CELERY_TASK_DEFAULT_QUEUE",
    "NOTIFICATIONS_QUEUE",
]


def run(args, extra_env, tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in VARIABLES}
    env.update({"DJANGO_SETTINGS_MODULE": "oms_site.settings", "OMS_VAR_DIR": str(tmp_path), **extra_env})
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def production_env():
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "oms.example.com",
        "DATABASE_URL": "postgres://oms:secret@db.internal:5432/oms",
        "CELERY_BROKER_URL": "redis://cache.internal:6379/0",
        "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587",
        "OPS_EMAILS": "ops@example.com,lead@example.com",
        "TIME_ZONE": "America/Chicago",
    }


def test_no_variables_give_the_embedded_shape(tmp_path):
    result = run(["-c", PROBE], {}, tmp_path)

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["db"] == "django.db.backends.sqlite3"
    assert values["broker"] == "filesystem://"
    assert values["email"] == "django.core.mail.backends.filebased.EmailBackend"
    assert values["debug"] is True
    assert (tmp_path / "celery" / "queue").is_dir()


def test_variables_give_the_production_shape(tmp_path):
    result = run(["-c", PROBE], production_env(), tmp_path)

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["db"] == "django.db.backends.postgresql"
    assert values["broker"] == "redis://cache.internal:6379/0"
    assert values["email"] == "django.core.mail.backends.smtp.EmailBackend"
    assert values["debug"] is False
    assert values["ops"] == ["ops@example.com", "lead@example.com"]
    assert values["tz"] == "America/Chicago"
    assert values["hosts"] == ["oms.example.com"]
    assert values["beat"] == "django_celery_beat.schedulers:DatabaseScheduler"


def test_check_deploy_is_clean_in_the_production_shape(tmp_path):
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(), tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = production_env()
    del env["SECRET_KEY"]

    result = run(["manage.py", "check"], env, tmp_path)

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_email_can_have_a_queue_of_its_own(tmp_path):
    """With NOTIFICATIONS_QUEUE set, Celery sends the email task there and everything else to the default queue."""
    probe = (
        "import django, json; django.setup(); from oms_site.celery import app; "
        "print(json.dumps([app.amqp.router.route({}, name)['queue'].name "
        "for name in ('notifications.tasks.send_messages', 'orders.tasks.allocate_order')]))"
    )

    shared = run(["-c", probe], {}, tmp_path)
    separate = run(["-c", probe], {"NOTIFICATIONS_QUEUE": "mail"}, tmp_path)

    assert json.loads(shared.stdout.strip().splitlines()[-1]) == ["celery", "celery"], shared.stderr
    assert json.loads(separate.stdout.strip().splitlines()[-1]) == ["mail", "celery"], separate.stderr


def test_the_test_card_gateway_is_off_in_production_unless_asked_for(tmp_path):
    """test_card approves any token: with DEBUG=false it is off, PAYMENTS_TEST_CARD=true turns it on (staging)."""
    probe = (
        "import django, json; django.setup(); from orders.payments.gateways import GATEWAYS; "
        "print(json.dumps(sorted(GATEWAYS)))"
    )

    production = run(["-c", probe], {**production_env(), "PAYMENTS_TEST_CARD": ""}, tmp_path)
    staging = run(["-c", probe], {**production_env(), "PAYMENTS_TEST_CARD": "true"}, tmp_path)
    development = run(["-c", probe], {}, tmp_path)

    assert json.loads(production.stdout.strip().splitlines()[-1]) == ["channel", "manual"], production.stderr
    assert json.loads(staging.stdout.strip().splitlines()[-1]) == ["channel", "manual", "test_card"], staging.stderr
    assert "test_card" in json.loads(development.stdout.strip().splitlines()[-1]), development.stderr


def test_a_margin_guard_limit_that_is_not_a_number_above_zero_stops_the_start_naming_it(tmp_path):
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SHIPPING_COST_MAX_SHARE_OF_ORDER)"
    )

    good = run(["-c", probe], {"SHIPPING_COST_MAX_SHARE_OF_ORDER": "0.3"}, tmp_path)
    bad = run(["-c", probe], {"SHIPPING_COST_MAX_SHARE_OF_ORDER": "a quarter"}, tmp_path)

    assert good.returncode == 0 and good.stdout.strip().splitlines()[-1] == "0.3"
    assert bad.returncode != 0
    assert "SHIPPING_COST_MAX_SHARE_OF_ORDER must be a number above 0, e.g. 0.25; got 'a quarter'." in bad.stderr
