"""Create the demo logins for the embedded shape and print them.

One superuser ("demo") and one user per role, sharing a password that is
generated on first run and kept in var/demo_login.txt (never committed); and
an API key of the demo web store channel, kept in var/demo_api_key.txt, to try
the channels' API with. The links printed are where the console is served:
--url, else OMS_BASE_URL (which `runembedded` serves on by default).
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

ROLE_USERS = {
    "manager": "Operations manager",
    "associate": "Operations associate",
    "returns": "Returns associate",
    "warehouse": "Warehouse staff",
}


class Command(BaseCommand):
    help = "Create the demo superuser and one demo user per role (embedded shape only)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            default=None,
            help="Where the console is served, e.g. http://127.0.0.1:8765 (default: OMS_BASE_URL).",
        )

    def handle(self, *args, url: str | None = None, **options):
        base = (url or settings.OMS_BASE_URL).rstrip("/")
        if not settings.DEBUG:
            raise CommandError("Demo logins are for the embedded shape (DEBUG=true) only.")
        from orders.demo_data import demo_network_in_its_zones, ensure_demo_3pl

        demo_network_in_its_zones()  # a demo database seeded before warehouses had their own clock
        ensure_demo_3pl()  # and before the demo had a warehouse run by a 3PL
        password_file = settings.VAR_DIR / "demo_login.txt"
        if password_file.exists():
            password = password_file.read_text().strip()
        else:
            password = secrets.token_urlsafe(9)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        User = get_user_model()
        demo, created = User.objects.get_or_create(
            username="demo", defaults={"is_staff": True, "is_superuser": True, "email": "demo@oms.example"}
        )
        if created or not demo.check_password(password):
            demo.set_password(password)
            demo.save()
        for username, role in ROLE_USERS.items():
            user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
            if created or not user.check_password(password):
                user.set_password(password)
                user.save()
            user.groups.set([Group.objects.get(name=role)])
        self.stdout.write(self.style.SUCCESS(f"Demo login:  {base}/admin/"))
        self.stdout.write(f"  user: demo   password: {password}   (superuser)")
        roles = ", ".join(f"{u} ({r})" for u, r in ROLE_USERS.items())
        self.stdout.write(f"  role users, same password: {roles}")
        key = self._demo_api_key()
        if key:
            self.stdout.write(
                f"  API (web store channel): curl -H 'Authorization: Bearer {key}' "
                f"{base}/api/v1/stock/<sku>   docs: {base}/api/v1/docs"
            )
        if self._demo_store(base):
            self.stdout.write(f"  demo store (the delivery-date snippet on a product page): {base}/demo-store/")

    def _demo_store(self, base: str) -> bool:
        """Whether /demo-store/ shows the snippet: on, and the web store holds a publishable key (given one if not)."""
        from orders.demo_data import ensure_storefront_key
        from orders.models import Channel

        channel = Channel.objects.filter(code="webstore", is_active=True).first()
        if not settings.DEMO_STORE_ENABLED or channel is None:
            return False
        ensure_storefront_key(channel, base)
        return True

    def _demo_api_key(self) -> str | None:
        """The web store's demo key: kept in var/ so it can be printed again; a new one if the database lost it."""
        from orders.models import Channel, ChannelApiKey
        from orders.services.channels import hash_api_key, issue_api_key

        channel = Channel.objects.filter(code="webstore", is_active=True).first()
        if channel is None:
            return None
        key_file = settings.VAR_DIR / "demo_api_key.txt"
        if key_file.exists():
            key = key_file.read_text().strip()
            if ChannelApiKey.objects.filter(key_hash=hash_api_key(key), revoked_at__isnull=True).exists():
                return key
        _, key = issue_api_key(channel_id=channel.pk, name="demo (make run)", actor="demo set-up")
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
        return key
