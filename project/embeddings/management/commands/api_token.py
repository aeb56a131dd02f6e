"""``manage.py api_token USERNAME [--rotate]``: print the API token of a user (created if missing)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Print the API token for USERNAME, creating the user (without a password: API only) and the token "
        "if needed. Send it as `Authorization: Token <key>`. --rotate replaces an existing token."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="delete the old token and make a new one")

    def handle(self, *args, username, rotate, **options):
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            self.stderr.write(f"created user {username!r} (no password; `manage.py dashboard_password` for the dashboard)")
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
