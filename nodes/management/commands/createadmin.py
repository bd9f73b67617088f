"""`manage.py createadmin`: create an administrator non-interactively."""
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from nodes.services import accounts


class Command(BaseCommand):
    help = "Create an administrator (superuser); generates and prints a password if none given."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--password", default=None, help="Generated and printed if omitted.")
        parser.add_argument(
            "--if-missing", action="store_true",
            help="Do nothing (and succeed) if any administrator already exists.",
        )

    def handle(self, *args, username: str, email: str, password: str | None, **options) -> None:
        users = get_user_model().objects
        if options["if_missing"] and users.filter(is_superuser=True).exists():
            self.stdout.write("An administrator already exists; nothing to do.")
            return
        if users.filter(username=username).exists():
            raise CommandError(f"User {username} already exists.")
        generated = password is None
        password = accounts.generate_password() if generated else password
        try:
            accounts.user_create(
                None, username=username, email=email, password=password, is_superuser=True
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(f"Created administrator {username}.")
        if generated:
            self.stdout.write(f"Password: {password}")
