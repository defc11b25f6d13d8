from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand

from annotations.services.demo import demo_load


class Command(BaseCommand):
    help = (
        "Create the demo project 'Foreign-ministry briefings' with the sample article, a "
        "label set of themes and the 'admin' superuser. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = demo_load(admin_password=os.environ.get("THEMATA_ADMIN_PASSWORD") or None)
        port = os.environ.get("PORT", "8000")
        self.stdout.write(
            f"Demo project '{result.project.name}': {result.articles.articles_created} new "
            f"articles, {result.articles.duplicates_skipped} already there."
        )
        self.stdout.write(f"Open http://127.0.0.1:{port}/ and log in as: admin")
        if result.admin_password and not os.environ.get("THEMATA_ADMIN_PASSWORD"):
            self.stdout.write(self.style.WARNING(f"Password (shown once): {result.admin_password}"))
        elif os.environ.get("THEMATA_ADMIN_PASSWORD"):
            self.stdout.write("Password: the value of THEMATA_ADMIN_PASSWORD.")
        else:
            self.stdout.write(
                "Password: the one printed when the demo was first loaded. To set a new one, "
                "run: THEMATA_ADMIN_PASSWORD='…' make run"
            )
