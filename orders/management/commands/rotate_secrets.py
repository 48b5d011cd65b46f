"""``manage.py rotate_secrets``: every secret kept encrypted moves to the newest key of OMS_SECRET_KEYS.

Run after putting a new key at the front of OMS_SECRET_KEYS (``--new-key``
makes one); once it reports nothing left on an old key, the old key can go.
See docs/operations/security.md.
"""

from django.core.management.base import BaseCommand, CommandError

from oms_core.crypto import configured_keys, generate_key, rotate_encrypted_fields


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (a channel's webhook secret) with the newest key of OMS_SECRET_KEYS; "
        "--new-key prints a new key to put at its front."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--new-key", action="store_true", help="Print a new random key and what to do with it; change nothing."
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be re-encrypted; write nothing.")

    def handle(self, *args, new_key: bool, dry_run: bool, **options):
        if new_key:
            self.stdout.write(generate_key())
            self.stderr.write(
                "Put it first in OMS_SECRET_KEYS (comma-separated, newest first), keep the old keys after it, "
                "restart the web and worker processes, then run `manage.py rotate_secrets`."
            )
            return
        source = "the newest key of OMS_SECRET_KEYS" if configured_keys() else "the key derived from SECRET_KEY"
        unreadable = []
        for rotation in rotate_encrypted_fields(dry_run=dry_run):
            verb = "would be re-encrypted" if dry_run else "re-encrypted"
            line = f"{rotation.label}: {rotation.rotated} {verb} with {source}, {rotation.current} already on it"
            if rotation.unreadable:
                ids = ", ".join(str(pk) for pk in rotation.unreadable)
                line += f", {len(rotation.unreadable)} opened by no key (ids {ids})"
                unreadable.append(rotation)
            self.stdout.write(line + ".")
        if unreadable:
            raise CommandError(
                "Some secrets open with no key and were left as they are: put the key they were made with back "
                "in OMS_SECRET_KEYS (after the newest) and run this again, or enter those secrets anew in the console."
            )
