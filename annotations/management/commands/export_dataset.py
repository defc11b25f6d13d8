from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from annotations.exporting.splitting import parse_ratios
from annotations.models import Project
from annotations.services.exports import (
    FORMATS,
    LABEL_MODES,
    ExportOptions,
    ExportRefused,
    export_build,
    export_create,
)


class Command(BaseCommand):
    help = (
        "Export a project's labels as a dataset: JSONL, CSV, Parquet, or a folder (or .zip)"
        " with train/validation/test files split by whole articles and a dataset card."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", metavar="PROJECT_SLUG")
        parser.add_argument("--out", required=True, type=Path, metavar="PATH")
        parser.add_argument("--format", default="jsonl", choices=FORMATS)
        parser.add_argument(
            "--labels",
            default="raw",
            choices=LABEL_MODES,
            help="raw: every answer; majority: labels most answers agree on; gold: gold labels.",
        )
        parser.add_argument(
            "--min-answers",
            type=int,
            default=None,
            help="majority: submitted answers a segment needs (default: the project's k).",
        )
        parser.add_argument(
            "--exclude-unsure", action="store_true", help="majority: leave unsure answers out."
        )
        parser.add_argument(
            "--split", default=None, help="train,validation,test ratios, e.g. 0.8,0.1,0.1."
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the split.")
        parser.add_argument(
            "--real-names", action="store_true", help="User names instead of annotator-N."
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object with the outcome."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project with the slug {options['project']!r}.")
        try:
            split = parse_ratios(options["split"]) if options["split"] else None
            export_options = ExportOptions(
                format=options["format"],
                labels=options["labels"],
                min_answers=options["min_answers"],
                exclude_unsure=options["exclude_unsure"],
                split=split,
                seed=options["seed"],
                real_names=options["real_names"],
            )
            export = export_create(project=project, options=export_options, by=None)
        except (ValueError, ExportRefused) as exc:
            raise CommandError(str(exc)) from exc

        # The bar goes to the terminal only: never into --json output or a log file.
        stream = options.get("stderr") or sys.stderr
        show_progress = not options["json"] and stream.isatty()
        with tqdm(
            total=0, unit=" rows", desc="Exporting", file=stream, disable=not show_progress
        ) as bar:

            def on_progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            try:
                result = export_build(export=export, out=options["out"], on_progress=on_progress)
            except Exception as exc:
                raise CommandError(f"Export #{export.pk} failed: {exc}") from exc

        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
            return
        splits = ", ".join(f"{name} {rows:,}" for name, rows in result.rows_per_split.items())
        skipped = ", ".join(f"{n:,} {why.replace('_', ' ')}" for why, n in result.skipped.items())
        self.stdout.write(
            f"Export #{export.pk}: {result.rows:,} rows"
            + (f" ({splits})" if splits else "")
            + (f"; skipped {skipped}" if skipped else "")
            + f" → {result.path} (sha256 {result.sha256[:12]}…)"
        )
