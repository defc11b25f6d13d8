from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Segmentation(models.TextChoices):
    PARAGRAPH = "paragraph", "Paragraphs"
    SENTENCE = "sentence", "Sentences"


class Collection(models.Model):
    """A named set of articles; projects label the segments of one collection."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    # Kept by the importer (and ``recount``) so that progress bars never count 200,000 rows.
    article_count = models.PositiveIntegerField(default=0, editable=False)
    segment_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def recount(self) -> None:
        """Set the stored article and segment counts from the rows themselves."""
        self.article_count = self.articles.count()
        self.segment_count = Segment.objects.filter(article__collection=self).count()
        self.save(update_fields=["article_count", "segment_count"])


class ImportBatch(models.Model):
    """One run of the importer: what was read, with which options, and how it ended.

    A rejected import stores none of its articles; its batch is still recorded, as
    ``failed`` with the reasons, so that an admin can see what was tried.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The heartbeat: a running import refreshes it as it goes (from outside its own
    # transaction), so a batch "running" whose heartbeat is old has lost its worker.
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    source_names = models.JSONField(default=list, blank=True)
    format = models.CharField(max_length=10)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.RUNNING)
    articles_created = models.PositiveIntegerField(default=0)
    duplicates_skipped = models.PositiveIntegerField(default=0)
    segments_created = models.PositiveIntegerField(default=0)
    # Articles found to be a near-copy of an earlier one (in this input or the collection).
    near_duplicates = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    # With "keep going": the pages or records left out, each {"source", "line", "message"}.
    skipped = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"Import #{self.pk} into {self.collection} ({self.status})"


def content_hash_for(body: str, *, canonical: bool = False) -> str:
    """Identity of an article's text for de-duplication: whitespace-insensitive sha256.

    The text hashed is ``" ".join(body.split())``. Imported bodies are canonical (single
    spaces, paragraphs joined by blank lines), so replacing their newlines already gives it;
    the split-and-join runs only when that shortcut is not exact (3x faster on imports).
    ``canonical``: ``body`` comes from ``build_body``, whose only whitespace is single spaces
    within lines and the newlines between them, so the shortcut is exact without checking.
    """
    text = body.replace("\n\n", " ").replace("\n", " ")
    if not canonical and not (text.isprintable() and "  " not in text and text == text.strip()):
        text = " ".join(body.split())
    return hashlib.sha256(text.encode()).hexdigest()


def segment_rows(
    body: str, spans: Iterable[tuple[int, int]]
) -> Iterator[tuple[int, int, int, str]]:
    """``(position, start, end, text)`` for each span; the text is sliced from the body,
    which is what keeps ``segment.text == article.body[start:end]`` true."""
    length = len(body)
    for position, (start, end) in enumerate(spans):
        if not 0 <= start < end <= length:
            raise ValueError(f"Span {start}:{end} is outside a body of {length}.")
        yield position, start, end, body[start:end]


class Article(models.Model):
    # No index of its own: the unique (collection, content_hash) constraint serves lookups.
    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="articles", db_index=False
    )
    title = models.TextField(blank=True)
    body = models.TextField(help_text="Clean article text, title not included.")
    source_url = models.URLField(max_length=2000, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(
        max_length=255, blank=True, help_text="Record id from the input, else the file name."
    )
    content_hash = models.CharField(max_length=64, editable=False)
    segmentation = models.CharField(
        max_length=10, choices=Segmentation, default=Segmentation.PARAGRAPH
    )
    metadata = models.JSONField(default=dict, blank=True)
    import_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="articles"
    )
    # Near-duplicate group (wire copies with small edits): the earliest article of the group,
    # which itself has none; the group key is ``duplicate_of_id or id``. SET_NULL, not
    # PROTECT: PROTECT would refuse deleting a whole collection; ``articles_delete`` moves a
    # deleted first article's copies onto the earliest copy left, so a group stays one group.
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="near_copies",
        help_text="The earliest article this one is a near-copy of (empty: not a copy).",
    )
    # Estimated Jaccard similarity of the word shingles to that article (MinHash).
    duplicate_similarity = models.FloatField(null=True, blank=True, editable=False)
    # MinHash signature of the body's word shingles, so that later imports compare against
    # this article without reading its body again (empty for articles imported before it).
    minhash = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["collection_id", "id"]  # by column: "collection" would join Collection
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "content_hash"], name="article_unique_content_in_collection"
            ),
        ]
        indexes = [models.Index(fields=["collection", "external_id"])]

    def __str__(self) -> str:
        return self.title or f"Article {self.pk}"

    @property
    def duplicate_group_id(self) -> int | None:
        """The key of this article's near-duplicate group: ``duplicate_of_id or id``."""
        return self.duplicate_of_id or self.pk

    def near_copy_count(self) -> int:
        """How many other articles are in this one's near-duplicate group (one query, on the
        ``duplicate_of`` index and the primary key)."""
        group = self.duplicate_group_id
        return (
            Article.objects.filter(Q(pk=group) | Q(duplicate_of_id=group))
            .exclude(pk=self.pk)
            .count()
        )

    def segment_rows(self, spans: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int, int, str]]:
        """``(position, start, end, text)`` for each span of this body (``segment_rows``)."""
        return segment_rows(self.body, spans)

    def build_segments(self, spans: Iterable[tuple[int, int]]) -> list[Segment]:
        """Unsaved segments for ``spans`` of this body."""
        return [
            Segment(article=self, position=position, start=start, end=end, text=text)
            for position, start, end, text in self.segment_rows(spans)
        ]


class Segment(models.Model):
    """A paragraph or sentence of an article: ``text == article.body[start:end]``."""

    # No index of its own: the unique (article, position) constraint serves lookups.
    article = models.ForeignKey(
        Article, on_delete=models.CASCADE, related_name="segments", db_index=False
    )
    position = models.PositiveIntegerField(help_text="0-based order within the article.")
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ["article_id", "position"]  # by column: "article" would join two tables
        constraints = [
            models.UniqueConstraint(
                fields=["article", "position"], name="segment_unique_position_in_article"
            ),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="segment_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.article_id}#{self.position}"
