"""Model instances from the rows of hand-written SQL on the labelling screen's hot path.

The submit → next request runs a handful of statements thousands of times a minute under a
team's load; building each one through the ORM (filters, joins, the compiler) cost more CPU
than PostgreSQL spent running them. The access gate and the queue therefore write that SQL
once per database vendor, and turn its rows back into ordinary model instances here:
``Model.from_db`` with the field's database converters applied, exactly as a queryset does,
with the columns that were not read left deferred (reading one costs a query, as with
``.only()``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

from articles.models import Article, Segment

from .models import Label

Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]

# What the labelling screen reads of a segment and its article: never the article's body
# (the whole text), its MinHash or its metadata.
SEGMENT_FIELDS = ("id", "article_id", "position", "start", "end", "text")
ARTICLE_FIELDS = ("id", "collection_id", "title", "source_url", "published_at", "duplicate_of_id")


class Columns[M: models.Model]:
    """Some concrete fields of a model, in the model's field order: their SQL and the
    instance made from the values a cursor returns for them."""

    def __init__(self, model: type[M], attnames: Sequence[str] | None = None) -> None:
        fields = [
            field
            for field in model._meta.concrete_fields
            if attnames is None or field.attname in attnames
        ]
        if attnames is not None and len(fields) != len(attnames):
            raise ValueError(f"Not all of {attnames} are concrete fields of {model.__name__}.")
        self.model = model
        self.fields = fields
        self.columns = [_column(field) for field in fields]
        self.attnames = [field.attname for field in fields]
        self.width = len(fields)

    def sql(self, alias: str, db: BaseDatabaseWrapper) -> str:
        """``alias.column, …`` for a SELECT list."""
        quote = db.ops.quote_name
        return ", ".join(f"{alias}.{quote(column)}" for column in self.columns)

    def build(self, db: BaseDatabaseWrapper, values: Sequence[Any]) -> M:
        """The instance for ``values`` (a slice of a row in ``sql``'s order)."""
        converted = list(values)
        for index, converters in _converters(self, db.alias):
            value = converted[index]
            for convert in converters:
                value = convert(value, None, db)
            converted[index] = value
        return self.model.from_db(db.alias, self.attnames, converted)


def _column(field: models.Field[Any, Any]) -> str:
    if field.column is None:
        raise ValueError(f"{field} has no column.")
    return field.column


@cache
def _converters(columns: Columns[Any], alias: str) -> list[tuple[int, list[Converter]]]:
    # The same converters a queryset applies (e.g. SQLite's text dates and integer booleans);
    # on PostgreSQL these fields have none, so the loop in ``build`` does nothing there.
    db = connections[alias]
    found = []
    for index, field in enumerate(columns.fields):
        converters = db.ops.get_db_converters(field.cached_col) + field.get_db_converters(db)
        if converters:
            found.append((index, converters))
    return found


SEGMENT = Columns(Segment, SEGMENT_FIELDS)
ARTICLE = Columns(Article, ARTICLE_FIELDS)


def segment_with_article(db: BaseDatabaseWrapper, values: Sequence[Any]) -> Segment:
    """A segment and its article (as ``select_related("article")`` would give it) from
    ``SEGMENT.sql(…), ARTICLE.sql(…)`` values."""
    segment = SEGMENT.build(db, values[: SEGMENT.width])
    segment.article = ARTICLE.build(db, values[SEGMENT.width : SEGMENT.width + ARTICLE.width])
    return segment


LABEL = Columns(Label)
# Label sets seen by this process, by the JSON the gate read them as: a label set changes
# rarely, and then its JSON differs, so a stale entry is never used (only evicted).
_LABELS_SEEN: dict[str, tuple[Label, ...]] = {}
_LABELS_SEEN_MAX = 256


def labels_json_sql(db: BaseDatabaseWrapper, label_set_id: str) -> str:
    """A scalar subquery: the labels of the label set ``label_set_id`` (an SQL expression)
    as one JSON text, in label-set order on PostgreSQL (``labels_from_json`` sorts the
    SQLite one, whose text order is Python's)."""
    quote = db.ops.quote_name
    columns = ", ".join(f"l.{quote(column)}" for column in LABEL.columns)
    table = quote(Label._meta.db_table)
    where = f"l.{quote('label_set_id')} = {label_set_id}"
    if db.vendor == "postgresql":
        order = f"l.{quote('order')}, l.{quote('name')}"
        return (
            f"(SELECT json_agg(json_build_array({columns}) ORDER BY {order})::text"
            f" FROM {table} l WHERE {where})"
        )
    return f"(SELECT json_group_array(json_array({columns})) FROM {table} l WHERE {where})"


def labels_from_json(db: BaseDatabaseWrapper, text: str | None) -> tuple[Label, ...]:
    """The labels that ``labels_json_sql`` read, in label-set order (``Label.Meta``).

    The instances are shared by the requests of this process: read them, never change them.
    """
    if not text:
        return ()
    found = _LABELS_SEEN.get(text)
    if found is None:
        rows = json.loads(text)
        labels = [LABEL.build(db, row) for row in rows]
        if db.vendor != "postgresql":
            labels.sort(key=lambda label: (label.order, label.name))
        if len(_LABELS_SEEN) >= _LABELS_SEEN_MAX:
            _LABELS_SEEN.clear()
        found = _LABELS_SEEN[text] = tuple(labels)
    return found


def neighbour_sql(db: BaseDatabaseWrapper, segment: str, step: int) -> str:
    """A scalar subquery: the text of the segment ``step`` places from segment alias
    ``segment`` in its article (NULL at the article's ends); one probe of the unique
    (article, position) index."""
    quote = db.ops.quote_name
    return (
        f"(SELECT n.{quote('text')} FROM {quote(Segment._meta.db_table)} n"
        f" WHERE n.{quote('article_id')} = {segment}.{quote('article_id')}"
        f" AND n.{quote('position')} = {segment}.{quote('position')} + {int(step)})"
    )
