"""`manage.py rack_secret`: print the shared secret racks register with (generated once)."""
from django.core.management.base import BaseCommand

from zones.services.rackapi import rack_secret


class Command(BaseCommand):
    help = "Print the rack registration secret (generated once into $VAR_DIR/rack_secret)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(rack_secret())
