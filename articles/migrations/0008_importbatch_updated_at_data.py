"""Existing batches: their last sign of life is when they finished, or else when they began
(not the time of this migration, which would make an import left running look alive)."""

from django.db import migrations
from django.db.models import F
from django.db.models.functions import Coalesce


def backfill(apps, schema_editor):
    ImportBatch = apps.get_model("articles", "ImportBatch")
    ImportBatch.objects.update(updated_at=Coalesce(F("finished_at"), F("created_at")))


class Migration(migrations.Migration):

    dependencies = [
        ("articles", "0007_importbatch_updated_at"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
