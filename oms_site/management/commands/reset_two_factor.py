"""Reset a user's two-factor sign-in: their authenticator app and recovery codes are deleted."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from oms_site import two_factor


class Command(BaseCommand):
    help = "Delete a user's two-factor devices; they set up a new app at their next sign-in."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        removed = two_factor.reset(user)
        self.stdout.write(f"Two-factor sign-in of {username} reset ({removed} device(s) removed).")
