from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, transaction
from tqdm import tqdm

from articles.ingestion.sources import FORMATS
from articles.models import Segmentation
from articles.services import articles_import, collection_get_or_create


class Command(BaseCommand):
    help = (
        "Import news articles into a collection from files, directories or .zip archives "
        "(any file may be .gz). Everything is imported or, on any problem, nothing"
        " (--skip-invalid: pages or records without a usable article are left out and listed)."
    )
    # System checks add start-up time to every (scripted) import and check nothing it uses.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        parser.add_argument(
            "--collection", required=True, help="Collection name (created if missing)."
        )
        parser.add_argument("--format", default="auto", choices=["auto", *FORMATS])
        parser.add_argument(
            "--segment", default=Segmentation.PARAGRAPH, choices=Segmentation.values
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and count, but store nothing."
        )
        parser.add_argument("--timezone", default=None, help="Zone for dates written without one.")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Keep going: leave out pages and records that hold no usable article, list"
            " them, and import the rest (unreadable or malformed files still refuse it).",
        )
        parser.add_argument(
            "--near-duplicate-threshold",
            type=float,
            default=None,
            metavar="J",
            help="Jaccard similarity (0-1] from which an article is a near-copy of an earlier"
            " one (default: THEMATA_NEAR_DUPLICATE_THRESHOLD, 0.8).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object with the counts."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The bar goes to the terminal only: never into --json output or a log file.
        stream = options.get("stderr") or sys.stderr
        show_progress = not options["json"] and stream.isatty()
        with tqdm(
            total=0,
            unit="B",
            unit_scale=True,
            desc="Importing",
            file=stream,
            disable=not show_progress,
        ) as bar:

            def on_progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            with transaction.atomic():
                collection, created = collection_get_or_create(name=options["collection"])
                try:
                    result = articles_import(
                        collection=collection,
                        paths=options["paths"],
                        format=options["format"],
                        segmentation=options["segment"],
                        dry_run=options["dry_run"],
                        on_progress=on_progress,
                        time_zone=options["timezone"],
                        near_duplicate_threshold=options["near_duplicate_threshold"],
                        skip_invalid=options["skip_invalid"],
                    )
                except ValueError as exc:
                    raise CommandError(str(exc)) from exc
                except DatabaseError as exc:
                    raise CommandError(
                        f"The database failed during the import, so nothing was imported: {exc}"
                    ) from exc
                # A collection made for a dry run, or for an import that was refused,
                # is not left behind.
                if created and (options["dry_run"] or not result.succeeded):
                    transaction.set_rollback(True)

        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
        else:
            for problem in result.errors:
                self.stderr.write(str(problem))
            for problem in result.skipped:
                self.stderr.write(f"skipped: {problem}")
        if not result.succeeded:
            raise CommandError(result.summary())
        if not options["json"]:
            self.stdout.write(result.summary())
