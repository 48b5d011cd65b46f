"""The sweeps that resume a dead worker's work are on beat every 30 s, as django-celery-beat stores them."""

import pytest
from django.conf import settings
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from oms_site.celery import app

SWEEPS = {
    "route-waiting-orders": "orders.tasks.route_waiting_orders",
    "sweep-label-batches": "shipping.tasks.sweep_label_batches",
    "sweep-import-jobs": "inventory.tasks.sweep_import_jobs",
    "sweep-outbox": "notifications.tasks.sweep_outbox",
}


@pytest.mark.django_db
def test_beat_sends_every_sweep_every_30_seconds_dropping_one_not_started_in_time():
    # when beat starts and copies the schedule into the database
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        ModelEntry.from_entry(name, app=app, **entry)  # what DatabaseScheduler.update_from_dict does with each

    # then each sweep runs every 30 s, and a sweep still queued 30 s later expires (the next one is on its way)
    for name, task in SWEEPS.items():
        entry = PeriodicTask.objects.get(name=name)
        assert (entry.task, entry.interval.every, entry.interval.period, entry.expire_seconds) == (
            task,
            30,
            "seconds",
            30,
        ), name
