"""Plumbing every app may use, below all of them: not a Django app, no models.

- ``sql``: hand-written reads for the hot paths (ORM instances from rows,
  statements prepared on PostgreSQL);
- ``wakeups``: waking a draining Celery task at most once at a time;
- ``csvfiles``: the one CSV reader of every upload (a quote that never
  closes is refused, naming its line) and the one writer of every download
  (text a spreadsheet would run as a formula is made inert);
- ``crypto``: secrets the OMS reads back (a webhook secret) encrypted at
  rest with OMS_SECRET_KEYS, and their rotation.

It imports Django, Celery and Redis, never an app or ``oms_site`` (which sits
on top of the apps: docs/development/architecture.md).
"""
