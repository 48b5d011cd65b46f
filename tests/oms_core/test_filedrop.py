"""The file drop against a real SFTP server (asyncssh on 127.0.0.1, in its own process) and a local folder.

What a partner would notice: a file appears complete under its name or not at all, handled files move aside
under names that never collide, a rejected file carries its reason, an impostor server is refused before any
credential is sent, and a server down or killed mid-transfer is reported and then recovered from without a
duplicate or half a file left behind.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from oms_core import filedrop
from oms_core.csvfiles import CsvSyntaxError
from oms_core.filedrop import (
    DropLayout,
    FileDrop,
    FileDropError,
    HostKeyMismatch,
    LocalFileDrop,
    PeerUnavailable,
    SFTPFileDrop,
)
from tests.sftp_server import SFTPServerInfo, free_port, running_sftp_server, sftp_server  # noqa: F401


def connect(server: SFTPServerInfo, **options) -> SFTPFileDrop:
    options.setdefault("private_key_path", server.client_key_path)
    options.setdefault("host_key_fingerprint", server.host_key_fingerprint)
    return SFTPFileDrop(host=server.host, port=server.port, username=server.username, **options)


def put_incoming(root: Path, name: str, data: bytes, *, age: float = 0.0, folder: str = "in") -> Path:
    path = root / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    when = time.time() - age
    os.utime(path, (when, when))
    return path


@pytest.fixture
def drop(sftp_server):  # noqa: F811
    with connect(sftp_server) as client:
        yield client


def test_both_kinds_are_a_file_drop(sftp_server, tmp_path):  # noqa: F811
    assert isinstance(connect(sftp_server), FileDrop)
    assert isinstance(LocalFileDrop(tmp_path / "local"), FileDrop)


# --- writing ---------------------------------------------------------------------------------------


def test_a_write_goes_to_a_temporary_name_then_is_renamed_so_the_partner_never_sees_half_a_file(sftp_server, drop):  # noqa: F811
    # given a file of 300 kB (several SFTP write requests)
    data = os.urandom(300_000)
    # when it is written
    path = drop.write("940-SHP-1001.edi", data)
    # then it is complete under its name in out/, and nothing else is there
    assert path == "out/940-SHP-1001.edi"
    assert (sftp_server.root / "out" / "940-SHP-1001.edi").read_bytes() == data
    assert os.listdir(sftp_server.root / "out") == ["940-SHP-1001.edi"]
    # and the server saw it opened for writing only under a temporary, hidden name, then renamed in one step
    writes = [op for op in sftp_server.operations() if op["op"] != "open" or op["write"]]
    [opened, renamed] = writes
    assert opened["path"].startswith("out/.940-SHP-1001.edi.")
    assert opened["path"].endswith(".part")
    assert renamed == {"op": "posix_rename", "path": opened["path"], "to": "out/940-SHP-1001.edi"}


def test_writing_a_name_again_replaces_it_whole_and_clears_an_interrupted_write(sftp_server, drop):  # noqa: F811
    # given an earlier complete file and the temporary file of an interrupted write of the same name
    drop.write("846.edi", b"old")
    stale = sftp_server.root / "out" / ".846.edi.0badc0ffee00.part"
    stale.write_bytes(b"half of a fi")
    other = sftp_server.root / "out" / ".other.edi.0badc0ffee00.part"
    other.write_bytes(b"another writer's file")
    # when the name is written again
    drop.write("846.edi", b"new content")
    # then one complete file has the name, the stale temporary is gone, another name's temporary is left alone
    assert sorted(os.listdir(sftp_server.root / "out")) == [".other.edi.0badc0ffee00.part", "846.edi"]
    assert (sftp_server.root / "out" / "846.edi").read_bytes() == b"new content"


@pytest.mark.slow  # starts, stops or kills SFTP server processes of its own
def test_a_server_without_posix_rename_still_gets_whole_files(tmp_path):
    with running_sftp_server(tmp_path / "drop", posix_rename=False) as server, connect(server) as drop:
        drop.write("846.edi", b"first")
        drop.write("846.edi", b"second, longer")
        assert os.listdir(server.root / "out") == ["846.edi"]
        assert (server.root / "out" / "846.edi").read_bytes() == b"second, longer"
        renames = [op for op in server.operations() if op["op"] == "rename"]
        assert [op["to"] for op in renames] == ["out/846.edi", "out/846.edi"]
        assert all(op["path"].startswith("out/.846.edi.") for op in renames)


@pytest.mark.parametrize("name", ["", "../etc/passwd", "in/x.csv", ".hidden", "x.part", "x.tmp", "a\\b"])
def test_names_with_folders_or_reserved_for_writes_in_progress_are_refused(drop, name):
    with pytest.raises(ValueError, match="file name"):
        drop.write(name, b"x")


# --- listing, reading, moving aside -------------------------------------------------------------------


def test_the_incoming_list_holds_complete_files_oldest_first(sftp_server, drop):  # noqa: F811
    # given two complete files, one older, a partner's write in progress, a hidden file and a folder
    root = sftp_server.root
    put_incoming(root, "b-newer.csv", b"sku,qty\n", age=10)
    put_incoming(root, "a-older.csv", b"sku,qty\n", age=100)
    put_incoming(root, ".945-2.edi.x1.part", b"half")
    put_incoming(root, "945-3.edi.tmp", b"half")
    (root / "in" / "archive").mkdir()
    # then only the complete files are listed, oldest first; out/ is never listed
    drop.write("ours.edi", b"x")
    assert drop.list_incoming() == ["a-older.csv", "b-newer.csv"]
    assert drop.read("a-older.csv") == b"sku,qty\n"


def test_reading_a_missing_file_says_so(drop):
    with pytest.raises(FileDropError, match="no such file"):
        drop.read("gone.edi")


def test_archived_files_keep_their_name_and_never_overwrite_one_already_processed(sftp_server, drop):  # noqa: F811
    root = sftp_server.root
    # given a file handled once already, and the partner sending the same name again (twice)
    put_incoming(root, "945.edi", b"first")
    assert drop.archive("945.edi") == "945.edi"
    put_incoming(root, "945.edi", b"second")
    assert drop.archive("945.edi") == "945-2.edi"
    put_incoming(root, "945.edi", b"third")
    assert drop.archive("945.edi") == "945-3.edi"
    # then processed/ holds all three, each as it came, and in/ is empty
    processed = root / "processed"
    assert [(processed / n).read_bytes() for n in ("945.edi", "945-2.edi", "945-3.edi")] == [
        b"first",
        b"second",
        b"third",
    ]
    assert drop.list_incoming() == []


def test_a_rejected_file_moves_to_failed_with_its_reason_beside_it(sftp_server, drop):  # noqa: F811
    root = sftp_server.root
    put_incoming(root, "orders.csv", b"sku,qty\nA,x\n")
    put_incoming(root, "orders.csv", b"older", folder="failed")
    # when it is rejected
    name = drop.reject("orders.csv", "line 2: qty 'x' is not a number")
    # then it is in failed/ under a free name, with the reason in <name>.reason.txt, and no longer incoming
    assert name == "orders-2.csv"
    assert (root / "failed" / "orders-2.csv").read_bytes() == b"sku,qty\nA,x\n"
    assert (root / "failed" / "orders-2.csv.reason.txt").read_text() == "line 2: qty 'x' is not a number\n"
    assert (root / "failed" / "orders.csv").read_bytes() == b"older"
    assert drop.list_incoming() == []
    assert not [n for n in os.listdir(root / "failed") if n.endswith(".part")]


@pytest.mark.slow  # starts, stops or kills SFTP server processes of its own
def test_a_reject_cut_off_by_a_server_crash_and_retried_ends_as_one_file_with_its_reason(tmp_path):
    reason = "segment 20 (SE): SE01 says 17 segments, the set has 18"
    # given a server that goes silent at the first byte written to it, and a file to refuse
    with running_sftp_server(tmp_path / "drop", pause_after_bytes=1) as server:
        put_incoming(server.root, "945.edi", b"ISA*...")
        drop = connect(server, io_timeout=30)
        failures: list[Exception] = []

        def reject() -> None:
            try:
                drop.reject("945.edi", reason)
            except Exception as error:
                failures.append(error)

        rejecting = threading.Thread(target=reject)
        rejecting.start()
        # when the server crashes in the middle of the reject
        server.wait_until_paused()
        server.kill()
        rejecting.join(timeout=30)
        assert isinstance(failures[0], PeerUnavailable)
        # then the file is still to be handled (not lost in failed/ without its reason)
        assert (server.root / "in" / "945.edi").exists()
        # and the retry, once the server is back, ends with one file and its reason
        server.start()
        assert drop.reject("945.edi", reason) == "945.edi"
        assert sorted(os.listdir(server.root / "failed")) == ["945.edi", "945.edi.reason.txt"]
        assert (server.root / "failed" / "945.edi.reason.txt").read_text() == reason + "\n"
        assert drop.list_incoming() == []
        drop.close()


def test_the_folders_are_configurable_per_connection(sftp_server):  # noqa: F811
    # given a partner whose folders are named from its side: it writes to outbound/, reads from inbound/
    layout = DropLayout(incoming="outbound", outgoing="inbound", processed="done", failed="errors", root="acme")
    put_incoming(sftp_server.root, "945.edi", b"x", folder="acme/outbound")
    with connect(sftp_server, layout=layout) as drop:
        assert drop.list_incoming() == ["945.edi"]
        drop.archive("945.edi")
        drop.write("940.edi", b"y")
    # then the files land in the partner's folders, made when missing
    assert (sftp_server.root / "acme" / "done" / "945.edi").exists()
    assert (sftp_server.root / "acme" / "inbound" / "940.edi").read_bytes() == b"y"
    assert (sftp_server.root / "acme" / "errors").is_dir()


# --- logging in and who the server is ---------------------------------------------------------------


def test_a_password_login_works_and_a_wrong_one_is_refused_clearly(sftp_server):  # noqa: F811
    with connect(sftp_server, private_key_path=None, password=sftp_server.password) as drop:
        drop.write("x.edi", b"x")
    with (
        pytest.raises(FileDropError, match=r"refused the login of 'partner'") as refused,
        connect(sftp_server, private_key_path=None, password="wrong") as drop,
    ):
        drop.list_incoming()
    assert not isinstance(refused.value, PeerUnavailable)


def test_a_private_key_given_as_text_logs_in(sftp_server):  # noqa: F811
    key_text = sftp_server.client_key_path.read_text()
    with connect(sftp_server, private_key_path=None, private_key=key_text) as drop:
        assert drop.list_incoming() == []


def test_a_server_presenting_another_host_key_is_refused_before_anything_is_sent(sftp_server, tmp_path):  # noqa: F811
    # given a connection pinned to the key of another server (the partner's real one)
    with running_sftp_server(tmp_path / "real") as real:
        pinned = real.host_key_fingerprint
    assert pinned != sftp_server.host_key_fingerprint
    # when it reaches this server
    with (
        pytest.raises(HostKeyMismatch) as refused,
        connect(sftp_server, host_key_fingerprint=pinned, private_key_path=None, password=sftp_server.password) as drop,
    ):
        drop.write("940.edi", b"secret order")
    # then it says which key it met and which it expected, and the server saw no file operation
    message = str(refused.value)
    assert sftp_server.host_key_fingerprint in message
    assert pinned in message
    assert f"{sftp_server.host}:{sftp_server.port}" in message
    assert sftp_server.operations() == []
    assert not (sftp_server.root / "out" / "940.edi").exists()


def test_a_connection_needs_a_pinned_key_and_a_credential():
    with pytest.raises(FileDropError, match="host key fingerprint"):
        SFTPFileDrop(host="127.0.0.1", username="u", password="p", host_key_fingerprint="")
    with pytest.raises(FileDropError, match="SHA256"):
        SFTPFileDrop(host="127.0.0.1", username="u", password="p", host_key_fingerprint="ab:cd:ef")
    with pytest.raises(FileDropError, match="a password or a private key"):
        SFTPFileDrop(host="127.0.0.1", username="u", host_key_fingerprint="SHA256:abc")


# --- the server down, silent, or killed mid-transfer ----------------------------------------------------


def test_a_server_that_is_down_is_reported_as_unavailable_naming_it():
    port = free_port()  # nothing listens there
    drop = SFTPFileDrop(host="127.0.0.1", port=port, username="u", password="p", host_key_fingerprint="SHA256:x",
                        connect_timeout=2)  # fmt: skip
    with pytest.raises(PeerUnavailable, match=rf"the SFTP server 127\.0\.0\.1:{port} cannot be reached"):
        drop.list_incoming()


@pytest.mark.slow  # starts, stops or kills SFTP server processes of its own
def test_a_server_that_stops_answering_times_out_as_unavailable(tmp_path):
    # given a server that goes silent once a file has received 64 kB
    with running_sftp_server(tmp_path / "drop", pause_after_bytes=65_536) as server:
        drop = connect(server, io_timeout=1.0)
        # when a larger file is written, the write gives up after the read timeout
        started = time.monotonic()
        with pytest.raises(PeerUnavailable, match=r"did not answer within 1.0 s|broke"):
            drop.write("big.edi", os.urandom(1_000_000))
        assert time.monotonic() - started < 15
        # and the final name never appeared
        assert not (server.root / "out" / "big.edi").exists()


@pytest.mark.slow  # starts, stops or kills SFTP server processes of its own
def test_a_server_killed_mid_transfer_then_restarted_takes_the_retried_write_once_and_whole(tmp_path):
    data = os.urandom(1_000_000)
    with running_sftp_server(tmp_path / "drop", pause_after_bytes=200_000) as server:
        drop = connect(server, io_timeout=30)
        # given a write under way, and the server killed once 200 kB have reached its disk
        failures: list[Exception] = []

        def write() -> None:
            try:
                drop.write("940-SHP-7.edi", data)
            except Exception as error:
                failures.append(error)

        writer = threading.Thread(target=write)
        writer.start()
        server.wait_until_paused()
        partial = [n for n in os.listdir(server.root / "out") if n.endswith(".part")]
        assert len(partial) == 1
        assert 0 < (server.root / "out" / partial[0]).stat().st_size < len(data)
        server.kill()
        writer.join(timeout=30)
        # then the write failed as "unavailable", and no file has the final name
        assert not writer.is_alive()
        [failure] = failures
        assert isinstance(failure, PeerUnavailable), failure
        assert not (server.root / "out" / "940-SHP-7.edi").exists()
        # when the server is back and the write is retried on the same client
        server.start()
        drop.write("940-SHP-7.edi", data)
        # then one complete file has the name, and the half-written temporary is gone
        assert os.listdir(server.root / "out") == ["940-SHP-7.edi"]
        assert (server.root / "out" / "940-SHP-7.edi").read_bytes() == data
        # and a second retry (say, the answer to the first was lost) still leaves one file
        drop.write("940-SHP-7.edi", data)
        assert os.listdir(server.root / "out") == ["940-SHP-7.edi"]
        drop.close()


# --- the local folder --------------------------------------------------------------------------------


def test_the_local_drop_follows_the_same_rules(tmp_path, monkeypatch):
    root = tmp_path / "local"
    drop = LocalFileDrop(root)
    assert sorted(os.listdir(root)) == ["failed", "in", "out", "processed"]
    # writing: through a temporary name, replaced in one step, a stale temporary cleared
    (root / "out" / ".940.edi.0badc0ffee00.part").write_bytes(b"half")
    renames = []
    real_replace = os.replace

    def recording_replace(source, target):
        renames.append((Path(source).name, Path(target).name))
        real_replace(source, target)

    monkeypatch.setattr(filedrop.os, "replace", recording_replace)
    assert drop.write("940.edi", b"order") == "out/940.edi"
    [(temporary, final)] = renames
    assert temporary.startswith(".940.edi.") and temporary.endswith(".part") and final == "940.edi"
    assert os.listdir(root / "out") == ["940.edi"]
    monkeypatch.undo()
    # listing, reading, archiving under unique names, rejecting with a reason
    put_incoming(root, "945.edi", b"one", age=5)
    put_incoming(root, ".846.edi.part", b"half")
    assert drop.list_incoming() == ["945.edi"]
    assert drop.read("945.edi") == b"one"
    assert drop.archive("945.edi") == "945.edi"
    put_incoming(root, "945.edi", b"two")
    assert drop.archive("945.edi") == "945-2.edi"
    put_incoming(root, "bad.csv", b"x")
    assert drop.reject("bad.csv", "line 1: no header") == "bad.csv"
    assert (root / "failed" / "bad.csv.reason.txt").read_text() == "line 1: no header\n"
    with pytest.raises(FileDropError, match="does not exist"):
        drop.read("945.edi")
    with pytest.raises(FileDropError, match="does not exist"):
        drop.archive("945.edi")


def test_unique_names_count_up_before_the_extension():
    taken = {"a.edi", "a-2.edi", "noext", "x.tar.gz"}
    assert filedrop.unique_name("a.edi", taken.__contains__) == "a-3.edi"
    assert filedrop.unique_name("noext", taken.__contains__) == "noext-2"
    assert filedrop.unique_name("x.tar.gz", taken.__contains__) == "x-2.tar.gz"
    assert filedrop.unique_name("free.csv", taken.__contains__) == "free.csv"


def test_a_csv_payload_is_written_and_read_back_through_the_project_csv_helpers(tmp_path):
    drop = LocalFileDrop(tmp_path / "local")
    drop.write("stock.csv", filedrop.csv_payload([["sku", "on_hand", "name"], ["SKU-1", 12, "=cmd()"]]))
    data = (tmp_path / "local" / "out" / "stock.csv").read_bytes()
    assert list(filedrop.csv_payload_records(data)) == [
        (1, ["sku", "on_hand", "name"]),
        (2, ["SKU-1", "12", "'=cmd()"]),
    ]
    assert list(filedrop.csv_payload_records(b"\xef\xbb\xbfsku\r\nA\r\n")) == [(1, ["sku"]), (2, ["A"])]


def test_a_csv_payload_that_is_not_utf8_names_its_line():
    with pytest.raises(CsvSyntaxError) as refused:
        list(filedrop.csv_payload_records(b"sku,name\nA,ok\nB,caf\xe9\n"))
    assert refused.value.line == 3
    assert "is not UTF-8" in str(refused.value)
