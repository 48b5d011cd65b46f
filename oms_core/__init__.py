"""Plumbing every app may use, below all of them: not a Django app, no models.

- ``sql``: hand-written reads for the hot paths (ORM instances from rows,
  statements prepared on PostgreSQL);
- ``wakeups``: waking a draining Celery task at most once at a time.

It imports Django, Celery and Redis, never an app or ``oms_site`` (which sits
on top of the apps, ../shared/DESIGN.md).
"""
