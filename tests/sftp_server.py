"""A real SFTP server for tests: asyncssh on 127.0.0.1, in a process of its own, serving a folder.

``running_sftp_server(root)`` generates a throwaway host key and client key (in a folder beside ``root``
unless ``keys_dir`` is given), starts the server on a free port, waits until it listens, and yields a
``SFTPServerInfo``: host, port, username, password, client key path, the host key's ``SHA256:``
fingerprint, and the log of the file operations the server performed (``operations()``). ``kill()``
ends the process at once (SIGKILL, as a crash would); ``start()`` starts it again on the same port with
the same keys. With ``pause_after_bytes=N`` the server stops answering once a file has received N bytes
(it writes them to disk first) and marks ``paused``: a test can then kill it mid-transfer.

Run as ``python -m tests.sftp_server ROOT PORT HOST_KEY AUTHORIZED_KEYS LOG PAUSE_AFTER_BYTES|- [no-]posix-rename``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

USERNAME = "partner"
PASSWORD = "drop-password-for-tests"
ROOT_DIR = Path(__file__).resolve().parent.parent
START_SECONDS = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_keys(keys_dir: Path) -> tuple[Path, Path, Path, str]:
    """A host key, a client key and its authorized_keys file in ``keys_dir``; returns them and the host key's
    fingerprint. Keys already there are kept (a restarted server presents the same host key)."""
    with warnings.catch_warnings():  # asyncssh still imports cryptography's DSA, which warns
        warnings.filterwarnings("ignore", message="DSA is deprecated")
        import asyncssh

    keys_dir.mkdir(parents=True, exist_ok=True)
    host_key, client_key, authorized = keys_dir / "host_key", keys_dir / "client_key", keys_dir / "authorized_keys"
    if not host_key.exists():
        asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(host_key))
    if not client_key.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(str(client_key))
        authorized.write_bytes(key.export_public_key())
    os.chmod(client_key, 0o600)
    fingerprint = asyncssh.read_private_key(str(host_key)).get_fingerprint("sha256")
    return host_key, client_key, authorized, fingerprint


@dataclass
class SFTPServerInfo:
    root: Path
    host: str
    port: int
    username: str
    password: str
    client_key_path: Path
    host_key_fingerprint: str
    host_key_path: Path
    authorized_keys_path: Path
    log_path: Path
    pause_after_bytes: int | None = None
    posix_rename: bool = True
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def paused_marker(self) -> Path:
        return self.log_path.with_suffix(".paused")

    def start(self, *, pause_after_bytes: int | None = None) -> None:
        """Start the server process and wait (with a deadline) until it accepts connections."""
        self.pause_after_bytes = pause_after_bytes
        self.paused_marker.unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "tests.sftp_server",
            str(self.root),
            str(self.port),
            str(self.host_key_path),
            str(self.authorized_keys_path),
            str(self.log_path),
        ]
        command.append(str(pause_after_bytes) if pause_after_bytes is not None else "-")
        command.append("posix-rename" if self.posix_rename else "no-posix-rename")
        self.process = subprocess.Popen(command, cwd=ROOT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                _, err = self.process.communicate()
                raise RuntimeError(f"the test SFTP server exited: {err.decode(errors='replace')[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the test SFTP server did not listen on {self.host}:{self.port} within {START_SECONDS} s")

    def kill(self) -> None:
        """End the server at once (SIGKILL): its connections break as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        if self.process is not None:
            for stream in (self.process.stdout, self.process.stderr):
                if stream:
                    stream.close()
        self.process = None

    def wait_until_paused(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.paused_marker.exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not pause within {timeout} s")
            time.sleep(0.02)

    def lose_answers(self, count: int) -> None:
        """The next ``count`` renames onto a file's own name complete, then the connection drops unanswered."""
        self.log_path.with_suffix(".lose-answers").write_text(str(count))

    def operations(self) -> list[dict]:
        """The file operations the server performed, in order: {"op": "open", "path": ..., "write": bool}, ..."""
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]


@contextlib.contextmanager
def running_sftp_server(
    root: Path, *, keys_dir: Path | None = None, pause_after_bytes: int | None = None, posix_rename: bool = True
) -> Iterator[SFTPServerInfo]:
    """A real SFTP server serving ``root`` on 127.0.0.1 for the block; stopped (killed) after it.

    ``posix_rename=False`` plays a server without OpenSSH's posix-rename extension (plain SFTP rename only).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    keys_dir = Path(keys_dir) if keys_dir else root.parent / f"{root.name}-sftp-keys"
    host_key, client_key, authorized, fingerprint = make_keys(keys_dir)
    info = SFTPServerInfo(
        root=root,
        host="127.0.0.1",
        port=free_port(),
        username=USERNAME,
        password=PASSWORD,
        client_key_path=client_key,
        host_key_fingerprint=fingerprint,
        host_key_path=host_key,
        authorized_keys_path=authorized,
        log_path=keys_dir / "operations.log",
        posix_rename=posix_rename,
    )
    info.start(pause_after_bytes=pause_after_bytes)
    try:
        yield info
    finally:
        info.kill()


@pytest.fixture
def sftp_server(tmp_path) -> Iterator[SFTPServerInfo]:
    """A real SFTP server serving ``tmp_path / "drop"`` for one test (import this fixture to use it)."""
    with running_sftp_server(tmp_path / "drop") as server:
        yield server


# --- the server process ---------------------------------------------------------------------------


def _serve(
    root: Path, port: int, host_key: Path, authorized_keys: Path, log_path: Path, pause: int | None, posix_rename: bool
) -> None:
    import asyncssh

    paused_marker = log_path.with_suffix(".paused")
    lose_answers = log_path.with_suffix(".lose-answers")

    def log(**entry) -> None:
        with open(log_path, "a") as out:
            out.write(json.dumps(entry) + "\n")

    def relative(path: bytes) -> str:
        return path.decode().lstrip("/")

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return username == USERNAME and password == PASSWORD

    class LoggingSFTPServer(asyncssh.SFTPServer):
        def __init__(self, chan):
            super().__init__(chan, chroot=str(root).encode())
            self.received: dict[int, int] = {}

        def open(self, path, pflags, attrs):
            writing = bool(pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_CREAT))
            log(op="open", path=relative(path), write=writing)
            return super().open(path, pflags, attrs)

        async def write(self, file_obj, offset, data):
            key = id(file_obj)
            self.received[key] = self.received.get(key, 0) + len(data)
            if pause is not None and self.received[key] >= pause:
                super().write(file_obj, offset, data)
                file_obj.flush()
                paused_marker.write_text("paused")
                await asyncio.Event().wait()  # silent from here on, until the test kills the process
            return super().write(file_obj, offset, data)

        def rename(self, oldpath, newpath):
            log(op="rename", path=relative(oldpath), to=relative(newpath))
            return super().rename(oldpath, newpath)

        def posix_rename(self, oldpath, newpath):
            log(op="posix_rename", path=relative(oldpath), to=relative(newpath))
            if not posix_rename:
                raise asyncssh.SFTPOpUnsupported("posix-rename is not supported by this server")
            done = super().posix_rename(oldpath, newpath)
            self._lose_answer()
            return done

        def _lose_answer(self) -> None:
            """The file is in place; with answers to lose, the connection drops before the client hears so."""
            count = int(lose_answers.read_text() or 0) if lose_answers.exists() else 0
            if count > 0:
                lose_answers.write_text(str(count - 1))
                self.connection.abort()

        def remove(self, path):
            log(op="remove", path=relative(path))
            return super().remove(path)

    async def main() -> None:
        await asyncssh.listen(
            "127.0.0.1",
            port,
            server_factory=Server,
            server_host_keys=[str(host_key)],
            authorized_client_keys=str(authorized_keys),
            sftp_factory=LoggingSFTPServer,
            allow_scp=False,
        )
        await asyncio.Event().wait()

    asyncio.run(main())


if __name__ == "__main__":
    arguments = sys.argv[1:]
    _serve(
        Path(arguments[0]),
        int(arguments[1]),
        Path(arguments[2]),
        Path(arguments[3]),
        Path(arguments[4]),
        None if arguments[5] == "-" else int(arguments[5]),
        arguments[6] == "posix-rename",
    )
