"""The Celery application. Tasks live in each app's tasks.py (autodiscovered).

With a Redis broker the app uses `RedisTransport` below (settings: CELERY_BROKER_TRANSPORT), kombu's own
transport with the close of a channel made to finish when Redis has gone away, so that a worker rides
out a Redis restart under load instead of exiting (docs/operations/workers.md).
"""

import os
from queue import Empty

from celery import Celery
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms_site.settings")


class RedisChannel(kombu_redis.Channel):
    """kombu's Redis channel, whose close finishes (and requeues its unacknowledged messages) on a dead broker.

    Why (kombu 5.7.0, the newest release): when the broker goes away, Celery's consumer calls
    `Connection.collect()` and then `Connection.close()`. `collect()` closes the channels, then detaches
    the transport (`transport.client = None`, kombu/connection.py:429). But `Channel.close()` first reads
    the reply of a BRPOP still in flight and catches only `Empty` (kombu/transport/redis.py:1892-1896),
    so the read's ConnectionError leaves the task channel open with its unacknowledged messages; and the
    transport's `close_connection()` stops at the first channel whose close raises (the remote-control
    channel, deleting its queue: kombu/transport/virtual/base.py:988-997). The later `Connection.close()`
    closes that channel again: restoring its unacknowledged messages builds a new connection pool from
    `transport.client.hostname` (kombu/transport/redis.py:494 -> 2089 -> 2056 -> 2094 -> 2065 -> 1959), which is
    None by then. The AttributeError is no connection error, so the worker logs "Unrecoverable error"
    and exits. It happens only when a pool slot is free (a BRPOP is waiting) while another holds an
    unacknowledged task, which is why an idle worker survived.
    """

    def close(self):
        if self._in_poll and not self.closed:
            try:
                self._brpop_read()
            except Empty:
                pass
            except self.connection_errors:
                pass  # no reply will come from a broker that is gone; the read has dropped the connection
        super().close()

    def _connparams(self, asynchronous=False):
        # A channel used after its connection was collected fails as a lost connection (which Celery
        # retries and logs), never with an AttributeError that stops the worker.
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection of this channel is closed")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport with `RedisChannel`, closing every channel even when the broker is gone."""

    Channel = RedisChannel

    def close_connection(self, connection):
        """Close all channels, even after one fails on a lost connection; then raise the first failure."""
        self.cycle.close()
        failure = None
        for channels in self._avail_channels, self.channels:
            while channels:
                channel = channels.pop()
                try:
                    channel.close()
                except self.connection_errors as exc:
                    failure = failure or exc
        if failure is not None:
            raise failure


app = Celery("oms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
