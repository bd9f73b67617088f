"""`manage.py apikey`: create an API key for a user and print it (only the key, one line)."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from nodes.services import accounts


class Command(BaseCommand):
    help = "Create an API key (consumer:token:secret) for a user and print it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--name", default="", help="A label for the key.")

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username}.")
        if not user.is_active:
            raise CommandError(f"User {username} is inactive: its keys would not work.")
        _key, full = accounts.apikey_create(user, name)
        self.stdout.write(full)
