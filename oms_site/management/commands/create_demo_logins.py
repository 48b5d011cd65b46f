"""Create the demo logins for the embedded shape and print them.

One superuser ("demo") and one user per role, sharing a password that is
generated on first run and kept in var/demo_login.txt (never committed).
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

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("Demo logins are for the embedded shape (DEBUG=true) only.")
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
        self.stdout.write(self.style.SUCCESS("Demo login:  http://127.0.0.1:8000/admin/"))
        self.stdout.write(f"  user: demo   password: {password}   (superuser)")
        roles = ", ".join(f"{u} ({r})" for u, r in ROLE_USERS.items())
        self.stdout.write(f"  role users, same password: {roles}")
