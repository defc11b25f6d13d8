from django.db import migrations


def recount(apps, schema_editor):
    Collection = apps.get_model("articles", "Collection")
    Segment = apps.get_model("articles", "Segment")
    Article = apps.get_model("articles", "Article")
    for collection in Collection.objects.all():
        collection.article_count = Article.objects.filter(collection=collection).count()
        collection.segment_count = Segment.objects.filter(article__collection=collection).count()
        collection.save(update_fields=["article_count", "segment_count"])


class Migration(migrations.Migration):
    dependencies = [("articles", "0002_collection_counts")]

    operations = [migrations.RunPython(recount, migrations.RunPython.noop)]
