"""The columns of an exported row, in file order, with the type each one carries."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    INT = "int"
    STR = "str"
    OPTIONAL_STR = "str?"
    BOOL = "bool"
    LABELS = "labels"  # a list of label slugs
    TIME = "time"  # an aware datetime
    OPTIONAL_TIME = "time?"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind


# Every row, whatever the label mode: where the text comes from and which labels it has.
SEGMENT_COLUMNS = (
    Column("segment_id", Kind.INT),
    Column("article_id", Kind.INT),
    Column("external_id", Kind.STR),
    Column("title", Kind.STR),
    Column("url", Kind.STR),
    Column("published_at", Kind.OPTIONAL_TIME),
    Column("position", Kind.INT),
    Column("start", Kind.INT),
    Column("end", Kind.INT),
    Column("text", Kind.STR),
    Column("labels", Kind.LABELS),
)
RAW_COLUMNS = (
    *SEGMENT_COLUMNS,
    Column("annotator", Kind.STR),
    Column("status", Kind.STR),
    Column("unsure", Kind.BOOL),
    Column("comment", Kind.STR),
    Column("time_spent_ms", Kind.INT),
    Column("version", Kind.INT),
    Column("created_at", Kind.TIME),
    Column("updated_at", Kind.TIME),
)
MAJORITY_COLUMNS = (*SEGMENT_COLUMNS, Column("answers", Kind.INT))
GOLD_COLUMNS = (*SEGMENT_COLUMNS, Column("gold_source", Kind.STR))

LABELS_INDEX = 10  # where ``labels`` sits in every row
