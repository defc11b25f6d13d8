from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from articles.services import imports_fail_stale, imports_stale


class Command(BaseCommand):
    help = (
        'Mark imports left "running" by a worker that died (no heartbeat for'
        " THEMATA_IMPORT_STALE_AFTER seconds) as failed, and remove the upload folders they"
        " left. Safe to run from cron: a live import keeps its heartbeat and is left alone."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count the stale imports; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        silent = settings.THEMATA_IMPORT_STALE_AFTER
        if options["dry_run"]:
            count = imports_stale().count()
            self.stdout.write(f"Dry run: {count} stale import(s) (no heartbeat for {silent} s).")
            return
        count = imports_fail_stale()
        self.stdout.write(
            f"Marked {count} stale import(s) as failed (no heartbeat for {silent} s);"
            " removed the upload folders silent for as long."
        )
