"""A real SMTP server for the notification tests: aiosmtpd on a free local port, keeping what it receives."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def part(self, content_type: str) -> str:
        found = self.message.get_body(preferencelist=(content_type.split("/")[1],))
        assert found is not None and found.get_content_type() == content_type, f"no {content_type} part"
        return found.get_content()


class SinkHandler:
    """Keeps each delivered message; ``refuse`` makes it answer DATA with an SMTP error instead."""

    def __init__(self):
        self.delivered: list[Delivered] = []
        self.lock = threading.Lock()
        self.refuse: str | None = None
        self.refuse_to: set[str] = set()  # refuse only these recipients (empty: everyone)
        self.connections = 0
        self.arrived = threading.Condition(self.lock)
        # stall_at=N: the N-th message's DATA is received, then the reply waits for ``release``.
        self.seen = 0
        self.stall_at = 0
        self.stalled = threading.Event()
        self.release = threading.Event()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        return responses

    async def handle_DATA(self, server, session, envelope):
        if self.refuse and (not self.refuse_to or set(envelope.rcpt_tos) & self.refuse_to):
            return self.refuse
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.arrived:
            self.delivered.append(Delivered(envelope.mail_from, list(envelope.rcpt_tos), message))
            self.seen += 1
            self.arrived.notify_all()
        if self.seen == self.stall_at:
            # The server has taken this message, but its 250 waits until the test says so
            # (the worst case for the client: it cannot know the message went through).
            self.stalled.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, port: int):
        self.port = port
        self.handler = SinkHandler()
        self.controller: Controller | None = None

    def start(self) -> SmtpSink:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        self.handler.release.set()
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[Delivered]:
        with self.handler.lock:
            return list(self.handler.delivered)

    def wait_for(self, count: int, timeout: float = 60) -> list[Delivered]:
        """Block until ``count`` messages arrived (or the deadline passed); return them."""
        with self.handler.arrived:
            self.handler.arrived.wait_for(lambda: len(self.handler.delivered) >= count, timeout=timeout)
            return list(self.handler.delivered)


def use_smtp(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp_port(settings) -> int:
    """A free port, with Django's mail pointed at it over SMTP (nothing listens until a sink starts)."""
    port = free_port()
    use_smtp(settings, port)
    return port


@pytest.fixture
def smtp_sink(smtp_port):
    """A running SMTP sink that Django's mail goes to."""
    sink = SmtpSink(smtp_port).start()
    yield sink
    sink.stop()


@pytest.fixture
def ops_emails(settings):
    settings.OPS_EMAILS = ["ops@example.com"]
    return settings.OPS_EMAILS


def database_url() -> str:
    """The test database as a URL, for processes the test starts (a worker, a sender)."""
    from django.db import connection

    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    return f"postgres://{params['USER']}{password}@{host}:{port}/{params['NAME']}"


def child_env(tmp_path, smtp_port: int, **extra) -> dict:
    """The environment of a process started by a test: our settings, the test database, mail to the sink."""
    import os

    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "oms_site.settings",
        "DATABASE_URL": database_url(),
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "OMS_VAR_DIR": str(tmp_path),
        **extra,
    }
