"""The simulated 3PL over a file drop, served by the real SFTP test server, behind the conformance kit's Peer."""

from __future__ import annotations

from orders.partners import services
from orders.partners.models import PartnerConnection
from orders.partners.simulator import FileDropSimulator
from orders.partners.transports.filedrop import message_file_stem

from .conformance import Harness


class FileDropPeer:
    """The simulator and its SFTP server: down and up kill and restart the server; a lost answer is the server
    dropping the connection right after a file landed."""

    def __init__(self, simulator: FileDropSimulator, server):
        object.__setattr__(self, "simulator", simulator)
        object.__setattr__(self, "server", server)

    def __getattr__(self, name):
        return getattr(self.simulator, name)

    def __setattr__(self, name, value):
        if name == "drop_answers":
            self.server.lose_answers(value)
        else:
            setattr(self.simulator, name, value)

    def received(self, kind: str) -> list[dict]:
        self.simulator.take_files()
        return [self.simulator.taken_payloads[mid] for mid, k in self.simulator.taken if k == kind]

    def times_seen(self, message_id: str) -> int:
        """How many times a file of this message landed in in/ (a retry replaces it: the 3PL sees it again)."""
        stem = message_file_stem(message_id)
        return sum(
            1
            for op in self.server.operations()
            if op["op"] in ("posix_rename", "rename")
            and op.get("to", "").rsplit("/", 1)[-1].count(stem)
            and not op.get("to", "").rsplit("/", 1)[-1].startswith(".")
        )

    def down(self) -> None:
        self.server.kill()

    def up(self) -> None:
        self.server.start()


def file_drop_connection(connection: PartnerConnection, server, kind: str, **extra) -> PartnerConnection:
    """The kit's connection, turned into a file-drop one on the test SFTP server, logging in with its key."""
    connection.kind = kind
    connection.endpoint = f"sftp://{server.host}:{server.port}/"
    connection.sftp_host = server.host
    connection.sftp_port = server.port
    connection.sftp_username = server.username
    connection.sftp_host_key = server.host_key_fingerprint
    connection.sftp_private_key = server.client_key_path.read_text()
    for name, value in extra.items():
        setattr(connection, name, value)
    connection.full_clean()
    connection.save()
    return connection


def file_drop_harness(
    connection, server, *, file_format, products, sites, stock, routed, refusal, partner=None
) -> Harness:
    simulator = FileDropSimulator(
        root=server.root,
        poll=lambda: services.poll_connection(connection_id=connection.pk),
        file_format=file_format,
        partner=partner,
    )
    return Harness(
        connection=connection,
        peer=FileDropPeer(simulator, server),
        pump=simulator.pump,
        products=products,
        sites=sites,
        stock=stock,
        routed=routed,
        refusal=refusal,
    )
