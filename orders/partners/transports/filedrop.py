"""What the file-drop transports share: the connection's SFTP folder, one file per outbound message, polling.

The folders are named from the 3PL's side, as file-drop 3PLs name them: the OMS writes into the partner's
``in/`` folder and reads what the partner leaves in its ``out/`` folder; files the OMS has handled move to
``processed/``, files it cannot read at all to ``failed/`` with a ``.reason.txt`` beside them
(``oms_core.filedrop``). Every outbound message is one file whose name comes from the message's key, so a
retry (after an answer lost on the way back) replaces the same file whole and never makes a second one.

Inbound, ``poll(record)`` lists the complete files of ``out/``, oldest first; for each one it reads the
records (``parse``), hands them to ``record`` (the service that stores them in one transaction, each under
its de-duplication id), and only then archives the file. A poll cut off between the two leaves the file
where it was; the next poll reads it again and every record in it is a duplicate: nothing is lost or
applied twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from oms_core.filedrop import (
    DropLayout,
    FileDrop,
    FileDropError,
    HostKeyMismatch,
    LocalFileDrop,
    PeerUnavailable,
    SFTPFileDrop,
)

from ..models import PartnerConnection
from . import Delivered, Envelope, PermanentFailure, TemporaryFailure, Transport

logger = logging.getLogger(__name__)

# The folders as the 3PL names them: it reads in/, writes out/.
LAYOUT = DropLayout(incoming="out", outgoing="in", processed="processed", failed="failed")


@dataclass(frozen=True)
class InboundRecord:
    """One message read from a partner's file: its de-duplication id, type and payload, or why it is refused.

    ``source`` says where it came from (the file, its rows or X12 control numbers) for the message log.
    """

    key: str
    kind: str
    payload: dict
    error: str = ""
    source: dict = field(default_factory=dict)


class FileRefused(Exception):
    """A whole file cannot be read (not CSV, not X12, an unknown name): it goes to failed/ with the reason."""

    def __init__(self, message: str, *, kind: str = ""):
        super().__init__(message)
        self.kind = kind


# record(records) -> one status per record: 202 recorded, 200 a duplicate of one recorded before
Record = Callable[[list[InboundRecord]], list[int]]


def message_file_stem(message_id: str) -> str:
    """The part of a file name that names one message: its key made safe, and a digest that keeps it unique."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", message_id).strip("_")[:80] or "message"
    return f"{safe}-{hashlib.sha256(message_id.encode()).hexdigest()[:8]}"


def dedup_key(value: str) -> str:
    """A de-duplication id that fits the message log's key (150 characters): long ones keep a digest."""
    if len(value) <= 150:
        return value
    return f"{value[:120]}~{hashlib.sha256(value.encode()).hexdigest()[:24]}"


class FileDropTransport(Transport):
    """A transport over the connection's SFTP folder; the subclass gives the file format."""

    pushes_inbound = False

    def open_drop(self) -> FileDrop:
        """The SFTP connection of the connection: host key pinned, the credential from settings or decrypted.

        A connection that ``PARTNER_DROP_FOLDERS`` names (development, the demo) uses that local folder instead.
        """
        connection = self.connection
        folder = settings.PARTNER_DROP_FOLDERS.get(connection.code)
        if folder:
            try:
                return LocalFileDrop(Path(folder), layout=LAYOUT)
            except OSError as error:
                raise TemporaryFailure(
                    f"The drop folder {folder} of {connection.code} cannot be used: {error}"
                ) from error
        key_file = settings.PARTNER_SFTP_KEY_FILES.get(connection.code)
        credential = {}
        if key_file:
            credential["private_key_path"] = Path(key_file)
        elif connection.sftp_private_key:
            credential["private_key"] = str(connection.sftp_private_key)
        elif connection.sftp_password:
            credential["password"] = str(connection.sftp_password)
        layout = DropLayout(
            incoming=LAYOUT.incoming,
            outgoing=LAYOUT.outgoing,
            processed=LAYOUT.processed,
            failed=LAYOUT.failed,
            root=connection.drop_folder.strip("/") if connection.drop_folder else "",
        )
        try:
            return SFTPFileDrop(
                host=connection.sftp_host,
                port=connection.sftp_port,
                username=connection.sftp_username,
                host_key_fingerprint=[value.strip() for value in connection.sftp_host_key.split(",")],
                layout=layout,
                connect_timeout=settings.PARTNER_TIMEOUT_SECONDS,
                io_timeout=settings.PARTNER_TIMEOUT_SECONDS,
                **credential,
            )
        except FileDropError as error:  # no fingerprint, no credential: nothing can be sent until it is set
            raise TemporaryFailure(f"SFTP for {connection.code} is not set up: {error}") from error

    # --- outbound ------------------------------------------------------------------------------------------

    def render(self, envelope: Envelope) -> tuple[str, bytes]:  # pragma: no cover - each format has its own
        raise PermanentFailure(f"{type(self).__name__} writes no files")

    @contextlib.contextmanager
    def session(self) -> Iterator[DropSession]:
        """One SFTP connection for a batch of messages: opened at the first file, closed after the batch."""
        drop = self.open_drop()
        try:
            yield DropSession(self, drop)
        finally:
            drop.close()

    def send(self, envelope: Envelope) -> Delivered:
        """Write the message's file into the partner's in/ folder (atomically) over a connection of its own."""
        with self.session() as session:
            return session.send(envelope)

    def write(self, drop: FileDrop, envelope: Envelope) -> Delivered:
        """Write the message's file into the partner's in/ folder (atomically); retried, it replaces the same file.

        Any failure to write is one that may pass (TemporaryFailure): a server down or a connection broken
        (``PeerUnavailable``), a host key that no longer matches the pin (until it is checked and fixed), a
        refused login or folder (until the connection's settings change).
        """
        name, data = self.render(envelope)
        try:
            path = drop.write(name, data)
        except (FileDropError, OSError) as error:  # OSError: a local drop folder (full, not writable)
            raise TemporaryFailure(str(error)) from error
        return Delivered(detail=f"Written to {path} ({len(data)} bytes).")

    # --- inbound -------------------------------------------------------------------------------------------

    def parse(self, name: str, data: bytes) -> list[InboundRecord]:  # pragma: no cover - each format has its own
        raise FileRefused(f"{type(self).__name__} reads no files")

    def after_recorded(self, drop: SFTPFileDrop, name: str, data: bytes) -> None:
        """What to do once a file's records are stored, before it is archived (X12: the 997s)."""

    def poll(self, record: Record) -> list[int]:
        """Read every complete file the partner left, record its messages, archive it; returns the statuses.

        Raises TemporaryFailure when the server cannot be reached or breaks off (the next poll resumes).
        """
        statuses: list[int] = []
        drop = self.open_drop()
        try:
            for name in drop.list_incoming():
                data = drop.read(name)
                try:
                    records = self.parse(name, data)
                except FileRefused as refusal:
                    reason = f"{name}: {refusal}"
                    if refusal.kind:
                        statuses += record(
                            [
                                InboundRecord(
                                    key=dedup_key(f"file:{name}:{hashlib.sha256(data).hexdigest()[:16]}"),
                                    kind=refusal.kind,
                                    payload={},
                                    error=reason,
                                    source={"file": name},
                                )
                            ]
                        )
                    else:  # no message type to log it under: the connection's health says so
                        PartnerConnection.objects.filter(pk=self.connection.pk).update(
                            last_error=f"File refused, moved to failed/: {reason}"[:2000], last_error_at=timezone.now()
                        )
                    logger.warning("3PL %s: file %s refused: %s", self.connection.code, name, refusal)
                    drop.reject(name, reason)
                    continue
                statuses += record(records)
                self.after_recorded(drop, name, data)
                drop.archive(name)
        except (PeerUnavailable, HostKeyMismatch) as error:
            raise TemporaryFailure(str(error)) from error
        except (FileDropError, OSError) as error:
            raise TemporaryFailure(str(error)) from error
        finally:
            drop.close()
        return statuses


class DropSession:
    """A batch's sitting on a file drop: each ``send`` writes one file over the same connection."""

    def __init__(self, transport: FileDropTransport, drop: FileDrop):
        self.transport = transport
        self.drop = drop

    def send(self, envelope: Envelope) -> Delivered:
        return self.transport.write(self.drop, envelope)
