"""`manage.py rackd`: run a rack controller (same as `python -m rack_worker.rackd`); no DB."""
import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run a rack controller: register, heartbeat, run the rack worker and boot services."
    requires_system_checks = []
    requires_migrations_checks = False

    def run_from_argv(self, argv: list[str]) -> None:
        from rack_worker.rackd import main

        sys.exit(main(argv[2:]))

    def handle(self, *args, **options) -> None:  # pragma: no cover - run_from_argv handles it
        from rack_worker.rackd import main

        sys.exit(main([]))
