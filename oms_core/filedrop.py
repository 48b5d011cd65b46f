"""File drop: exchanging files with a partner through folders, on an SFTP server or on a local disk.

A connection has four folders under its root (names configurable, ``DropLayout``):

- ``in/``: files the partner leaves for us (we list and read them);
- ``out/``: files we leave for the partner (we only write there);
- ``processed/``: inbound files we have handled, moved aside;
- ``failed/``: inbound files we could not handle, each with ``<name>.reason.txt`` beside it.

A file is written under a temporary name (``.<name>.<random>.part``) and renamed to its own name once
complete, so the partner never reads half a file; names that start with ``.`` or end with ``.part`` or
``.tmp`` are someone's write in progress and are never listed. Writing a name again replaces the file
(atomically), so a write retried after a broken connection leaves one complete file, never a duplicate
nor a half one; the temporary files an interrupted write left behind are removed by the next write of
that name. Archived and rejected files keep their name, with ``-2``, ``-3``... before the extension when
the name is already taken.

``SFTPFileDrop`` connects with paramiko, pins the server's host key (a ``SHA256:...`` fingerprint as
``ssh-keygen -lf`` prints it; any other key is refused before a credential is sent), and puts timeouts
on the connection and on every read. Credentials (a password or a private key) are passed in by the
caller, who reads them from settings or its secret store: nothing here reads or keeps them elsewhere.
Errors: ``PeerUnavailable`` (the server is down, unreachable, or the connection broke: retry later),
``HostKeyMismatch``, ``FileDropError`` (a login refused, a file missing, a folder that cannot be made).
``LocalFileDrop`` does the same in a local folder, for the demo and development.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import posixpath
import secrets
import socket
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import paramiko

from oms_core.csvfiles import CsvSyntaxError, csv_records, csv_text

PART_SUFFIX = ".part"
REASON_SUFFIX = ".reason.txt"


class FileDropError(Exception):
    """A file-drop operation that failed for a reason a retry will not cure by itself (see ``PeerUnavailable``)."""


class PeerUnavailable(FileDropError):
    """The partner's server is down, unreachable, too slow, or the connection broke: try again later."""


class HostKeyMismatch(FileDropError):
    """The server presented a host key other than the one pinned for the connection: it may not be the partner."""


@dataclass(frozen=True)
class DropLayout:
    """The connection's folders, relative to its root (or absolute on an SFTP server)."""

    incoming: str = "in"
    outgoing: str = "out"
    processed: str = "processed"
    failed: str = "failed"
    root: str = ""

    def path(self, folder: str, name: str = "") -> str:
        parts = [part for part in (self.root, getattr(self, folder), name) if part]
        return posixpath.join(*parts)


@runtime_checkable
class FileDrop(Protocol):
    """What the partner apps use: list and read inbound files, write outbound ones, move handled files aside."""

    layout: DropLayout

    def list_incoming(self) -> list[str]:
        """The names of the complete files in the incoming folder, oldest first (by modification time, then name)."""
        ...

    def read(self, name: str) -> bytes:
        """The content of an incoming file."""
        ...

    def write(self, name: str, data: bytes) -> str:
        """Write a file to the outgoing folder atomically (temporary name, then rename); returns its path."""
        ...

    def archive(self, name: str) -> str:
        """Move an incoming file into processed/, under a name not taken there; returns that name."""
        ...

    def reject(self, name: str, reason: str) -> str:
        """Move an incoming file into failed/ with ``<name>.reason.txt`` beside it; returns its name there."""
        ...

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        ...


def check_name(name: str) -> str:
    """A plain file name (no folder, not hidden, not a temporary or reason file), or ValueError saying why not."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise ValueError(f"file name {name!r} must be a plain name without folders")
    if name.startswith(".") or name.endswith((PART_SUFFIX, ".tmp")):
        raise ValueError(f"file name {name!r} is reserved for writes in progress (starts with '.' or ends '.part')")
    if len(name.encode()) > 200:
        raise ValueError(f"file name {name[:40]!r}... is longer than 200 bytes")
    return name


def in_flight(name: str) -> bool:
    """A name some writer uses while the file is incomplete: never listed, never read."""
    return name.startswith(".") or name.endswith((PART_SUFFIX, ".tmp"))


def temporary_name(name: str) -> str:
    return f".{name}.{secrets.token_hex(6)}{PART_SUFFIX}"


def _is_temporary_of(candidate: str, name: str) -> bool:
    return candidate.startswith(f".{name}.") and candidate.endswith(PART_SUFFIX)


def unique_name(name: str, taken: Callable[[str], bool]) -> str:
    """``name``, or ``stem-2.ext``, ``stem-3.ext``... the first that ``taken`` says is free."""
    if not taken(name):
        return name
    stem, dot, extension = name.partition(".") if not name.startswith(".") else (name, "", "")
    number = 2
    while True:
        candidate = f"{stem}-{number}{dot}{extension}"
        if not taken(candidate):
            return candidate
        number += 1


def _oldest_first(entries: Sequence[tuple[str, float]]) -> list[str]:
    return [name for name, _ in sorted(entries, key=lambda entry: (entry[1], entry[0]))]


def _reason_text(reason: str) -> bytes:
    return (reason if reason.endswith("\n") else reason + "\n").encode("utf-8")


def host_key_fingerprint(key_blob: bytes) -> str:
    """The ``SHA256:...`` fingerprint of a public key (its SSH wire form), as ``ssh-keygen -lf`` prints it."""
    digest = hashlib.sha256(key_blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


# --- CSV payloads ---------------------------------------------------------------------------------


def csv_payload(rows: Iterable[Iterable[Any]]) -> bytes:
    """Rows (the header first) as the bytes of a CSV file to drop: UTF-8, through the OMS's guarded writer."""
    return csv_text(rows).encode("utf-8")


def csv_payload_records(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """The records of a dropped CSV file with their line numbers (``csvfiles.csv_records``), read as UTF-8.

    A byte-order mark is dropped; bytes that are not UTF-8 raise CsvSyntaxError naming the line they are on.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CsvSyntaxError(line, f"byte {error.start + 1} ({data[error.start]:#04x}) is not UTF-8; save the file "
                                   "as UTF-8") from None  # fmt: skip
    return csv_records(text)


# --- a local folder ------------------------------------------------------------------------------


class LocalFileDrop:
    """The file drop in a local folder: the demo's 3PL and development use it; the same rules as over SFTP."""

    def __init__(self, root: Path | str, *, layout: DropLayout | None = None):
        self.base = Path(root)
        self.layout = layout or DropLayout()
        for folder in ("incoming", "outgoing", "processed", "failed"):
            self._folder(folder).mkdir(parents=True, exist_ok=True)

    def _folder(self, folder: str) -> Path:
        return self.base / self.layout.path(folder)

    def list_incoming(self) -> list[str]:
        entries = []
        with os.scandir(self._folder("incoming")) as found:
            for entry in found:
                if entry.is_file(follow_symlinks=False) and not in_flight(entry.name):
                    entries.append((entry.name, entry.stat().st_mtime))
        return _oldest_first(entries)

    def read(self, name: str) -> bytes:
        path = self._folder("incoming") / check_name(name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise FileDropError(f"{self.layout.path('incoming', name)} does not exist") from None

    def write(self, name: str, data: bytes) -> str:
        folder = self._folder("outgoing")
        final = folder / check_name(name)
        for stale in folder.iterdir():
            if _is_temporary_of(stale.name, name):
                stale.unlink(missing_ok=True)
        temporary = folder / temporary_name(name)
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)
        return self.layout.path("outgoing", name)

    def _move(self, name: str, folder: str, reason: str | None = None) -> str:
        source = self._folder("incoming") / check_name(name)
        if not source.is_file():
            raise FileDropError(f"{self.layout.path('incoming', name)} does not exist")
        target_folder = self._folder(folder)
        while True:
            target = unique_name(name, lambda candidate: (target_folder / candidate).exists())
            if reason is not None:  # the reason first: a retry after a failure here picks the same name again
                for stale in target_folder.iterdir():
                    if _is_temporary_of(stale.name, f"{target}{REASON_SUFFIX}"):
                        stale.unlink(missing_ok=True)
                reason_path = target_folder / f"{target}{REASON_SUFFIX}"
                temporary = reason_path.with_name(temporary_name(reason_path.name))
                temporary.write_bytes(_reason_text(reason))
                os.replace(temporary, reason_path)
            try:
                os.link(source, target_folder / target)  # never replaces a file already there
            except FileExistsError:
                continue
            source.unlink()
            return target

    def archive(self, name: str) -> str:
        return self._move(name, "processed")

    def reject(self, name: str, reason: str) -> str:
        return self._move(name, "failed", reason)

    def close(self) -> None:
        """Nothing to close for a local folder."""

    def __enter__(self) -> LocalFileDrop:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- SFTP ------------------------------------------------------------------------------------------


def _load_private_key(private_key: str, passphrase: str | None):
    """A paramiko key from its PEM/OpenSSH text (Ed25519, ECDSA or RSA)."""
    errors = []
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(private_key), password=passphrase)
        except paramiko.PasswordRequiredException:
            raise FileDropError("the private key is encrypted and no passphrase was given") from None
        except (paramiko.SSHException, ValueError) as error:
            errors.append(f"{kind.__name__}: {error}")
    raise FileDropError("the private key could not be read as Ed25519, ECDSA or RSA: " + "; ".join(errors))


class SFTPFileDrop:
    """The file drop on the partner's SFTP server (paramiko), host key pinned, with timeouts.

    The connection opens on the first call and again after it broke; every call that meets a broken,
    refused or silent connection raises ``PeerUnavailable`` and closes it. One instance serves one worker
    at a time (it is not shared between threads); close it when the poll is done.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 22,
        username: str,
        host_key_fingerprint: str | Sequence[str],
        password: str | None = None,
        private_key: str | None = None,
        private_key_path: Path | str | None = None,
        passphrase: str | None = None,
        layout: DropLayout | None = None,
        connect_timeout: float = 10.0,
        io_timeout: float = 30.0,
    ):
        pinned = [host_key_fingerprint] if isinstance(host_key_fingerprint, str) else list(host_key_fingerprint)
        pinned = [value.strip() for value in pinned if value and value.strip()]
        if not pinned:
            raise FileDropError(f"a host key fingerprint (SHA256:...) must be pinned for {host}:{port}")
        for value in pinned:
            if not value.startswith("SHA256:"):
                raise FileDropError(f"host key fingerprint {value!r} must be a SHA256:... fingerprint (ssh-keygen -lf)")
        if password is None and private_key is None and private_key_path is None:
            raise FileDropError(f"a password or a private key is needed to log in to {host}:{port}")
        self.host = host
        self.port = port
        self.username = username
        self.pinned = tuple(pinned)
        self.layout = layout or DropLayout()
        self.connect_timeout = connect_timeout
        self.io_timeout = io_timeout
        self._password = password
        self._private_key = private_key
        self._private_key_path = Path(private_key_path) if private_key_path else None
        self._passphrase = passphrase
        self._transport = None
        self._sftp = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- the connection

    def _key(self):
        if self._private_key is not None:
            return _load_private_key(self._private_key, self._passphrase)
        if self._private_key_path is not None:
            try:
                return paramiko.PKey.from_path(self._private_key_path, self._passphrase)
            except (OSError, paramiko.SSHException, ValueError) as error:
                raise FileDropError(f"the private key {self._private_key_path} could not be read: {error}") from None
        return None

    def connect(self):
        """Open the connection if it is not open: TCP, the host key checked against the pin, then the login."""
        if self._sftp is not None and self._transport is not None and self._transport.is_active():
            return self._sftp
        self.close()
        key = self._key()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as error:
            raise PeerUnavailable(f"the SFTP server {self.address} cannot be reached: {error}") from None
        transport = paramiko.Transport(sock)
        transport.banner_timeout = self.connect_timeout
        transport.handshake_timeout = self.connect_timeout
        transport.auth_timeout = self.connect_timeout
        try:
            try:
                transport.start_client(timeout=self.connect_timeout)
            except (paramiko.SSHException, EOFError, OSError) as error:
                raise PeerUnavailable(
                    f"the SFTP server {self.address} did not complete the SSH handshake: {error}"
                ) from None
            presented = host_key_fingerprint(transport.get_remote_server_key().asbytes())
            if presented not in self.pinned:
                raise HostKeyMismatch(
                    f"the SFTP server {self.address} presented host key {presented}, but the connection pins "
                    f"{', '.join(self.pinned)}; nothing was sent. If the partner changed its key, check the new "
                    "fingerprint with them and update the connection"
                )
            try:
                if key is not None:
                    transport.auth_publickey(self.username, key)
                else:
                    transport.auth_password(self.username, self._password or "")
            except paramiko.AuthenticationException as error:
                raise FileDropError(
                    f"the SFTP server {self.address} refused the login of {self.username!r}: {error}"
                ) from None
            except (paramiko.SSHException, EOFError, OSError) as error:
                raise PeerUnavailable(f"the SFTP server {self.address} broke off during the login: {error}") from None
            try:
                sftp = paramiko.SFTPClient.from_transport(transport)
            except (paramiko.SSHException, EOFError, OSError) as error:
                raise PeerUnavailable(f"the SFTP server {self.address} did not open an SFTP session: {error}") from None
            if sftp is None:
                raise PeerUnavailable(f"the SFTP server {self.address} did not open an SFTP session")
            sftp.get_channel().settimeout(self.io_timeout)
        except BaseException:
            transport.close()
            raise
        self._transport, self._sftp = transport, sftp
        try:
            self._make_folders()
        except (paramiko.SSHException, EOFError, OSError) as error:
            self.close()
            raise PeerUnavailable(
                f"the connection to {self.address} broke while checking its folders: {error}"
            ) from None
        return sftp

    def _make_folders(self) -> None:
        for folder in ("incoming", "outgoing", "processed", "failed"):
            path = self.layout.path(folder)
            try:
                self._sftp.stat(path)
            except FileNotFoundError:
                try:
                    self._sftp.mkdir(path)
                except OSError as error:
                    if not self._transport.is_active():
                        raise
                    raise FileDropError(
                        f"the folder {path} is missing on {self.address} and cannot be made: {error}"
                    ) from None

    def close(self) -> None:
        sftp, transport = self._sftp, self._transport
        self._sftp = self._transport = None
        if sftp is not None:
            sftp.close()
        if transport is not None:
            transport.close()

    def __enter__(self) -> SFTPFileDrop:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, what: str, operation: Callable):
        """Run ``operation(sftp)``; a broken or silent connection becomes PeerUnavailable (and is closed)."""
        sftp = self.connect()
        try:
            return operation(sftp)
        except TimeoutError as error:
            self.close()
            raise PeerUnavailable(f"the SFTP server {self.address} did not answer within {self.io_timeout} s while "
                                  f"{what}: {error}") from None  # fmt: skip
        except (paramiko.SSHException, EOFError, OSError) as error:
            if self._transport is None or not self._transport.is_active():
                self.close()
                raise PeerUnavailable(f"the connection to {self.address} broke while {what}: {error}") from None
            if isinstance(error, FileNotFoundError):
                raise FileDropError(f"{what}: no such file on {self.address}") from None
            raise FileDropError(f"{what} on {self.address} failed: {error}") from None

    # -- the operations

    def list_incoming(self) -> list[str]:
        folder = self.layout.path("incoming")

        def listing(sftp) -> list[str]:
            entries = []
            for attributes in sftp.listdir_attr(folder):
                if stat.S_ISREG(attributes.st_mode or 0) and not in_flight(attributes.filename):
                    entries.append((attributes.filename, attributes.st_mtime or 0))
            return _oldest_first(entries)

        return self._call(f"listing {folder}", listing)

    def read(self, name: str) -> bytes:
        path = self.layout.path("incoming", check_name(name))

        def reading(sftp) -> bytes:
            with sftp.open(path, "rb") as remote:
                remote.prefetch()
                return remote.read()

        return self._call(f"reading {path}", reading)

    def write(self, name: str, data: bytes) -> str:
        folder = self.layout.path("outgoing")
        final = self.layout.path("outgoing", check_name(name))

        def writing(sftp) -> str:
            for stale in sftp.listdir(folder):
                if _is_temporary_of(stale, name):
                    sftp.remove(posixpath.join(folder, stale))
            temporary = posixpath.join(folder, temporary_name(name))
            with sftp.open(temporary, "wb") as remote:
                remote.set_pipelined(True)
                remote.write(data)
            written = sftp.stat(temporary).st_size
            if written != len(data):
                raise FileDropError(f"{temporary} on {self.address} holds {written} bytes, {len(data)} were sent")
            self._replace(sftp, temporary, final)
            return final

        return self._call(f"writing {final}", writing)

    def _replace(self, sftp, source: str, target: str) -> None:
        """Rename ``source`` to ``target``, replacing it in one step (posix-rename@openssh.com).

        A server without that extension gets a remove and a plain rename: for that moment the name is
        absent, never half written.
        """
        try:
            sftp.posix_rename(source, target)
            return
        except OSError as error:
            if error.errno is not None or self._transport is None or not self._transport.is_active():
                raise
        with contextlib.suppress(FileNotFoundError):
            sftp.remove(target)
        sftp.rename(source, target)

    def _move(self, name: str, folder: str, reason: str | None = None) -> str:
        source = self.layout.path("incoming", check_name(name))
        target_folder = self.layout.path(folder)

        def moving(sftp) -> str:
            sftp.stat(source)
            taken = set(sftp.listdir(target_folder))
            target = unique_name(name, taken.__contains__)
            if reason is not None:  # the reason first: a retry after a failure here picks the same name again
                for stale in taken:
                    if _is_temporary_of(stale, f"{target}{REASON_SUFFIX}"):
                        sftp.remove(posixpath.join(target_folder, stale))
                reason_path = posixpath.join(target_folder, f"{target}{REASON_SUFFIX}")
                temporary = posixpath.join(target_folder, temporary_name(f"{target}{REASON_SUFFIX}"))
                with sftp.open(temporary, "wb") as remote:
                    remote.write(_reason_text(reason))
                self._replace(sftp, temporary, reason_path)
            sftp.rename(source, posixpath.join(target_folder, target))  # plain rename: never replaces a file
            return target

        return self._call(f"moving {source} to {target_folder}/", moving)

    def archive(self, name: str) -> str:
        return self._move(name, "processed")

    def reject(self, name: str, reason: str) -> str:
        return self._move(name, "failed", reason)
