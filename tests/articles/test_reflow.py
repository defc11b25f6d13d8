"""Hard-wrapped text: wire-style stories and corpus pages re-wrapped at a fixed width."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from articles.ingestion.cleaning import split_scraped_text
from articles.ingestion.reflow import is_dateline, reflow, wrap_width
from articles.services import articles_import
from tests.corpus import mean_score, txt_scores
from tests.factories import CollectionFactory

STORIES = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "wire" / "stories.json").read_text()
)


def wire_text(story: dict, width: int = 65, indent: int = 3) -> str:
    """A story the way the wire sends it: headline, dateline line, paragraphs wrapped at
    ``width`` with each first line indented."""
    lines = [story["headline"], story["dateline"]]
    for paragraph in story["paragraphs"]:
        lines.extend(
            textwrap.wrap(paragraph, width, initial_indent=" " * indent, subsequent_indent="")
        )
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("story", STORIES, ids=lambda s: s["dateline"].split(",")[0])
@pytest.mark.parametrize("width", [60, 65, 72])
def test_a_wire_story_keeps_its_headline_and_paragraphs(story: dict, width: int) -> None:
    (article,) = split_scraped_text(wire_text(story, width))

    assert article.title == story["headline"]
    expected = list(story["paragraphs"])
    # The dateline opens the first paragraph: it is not a paragraph of its own.
    expected[0] = f"{story['dateline']} {expected[0]}"
    assert list(article.paragraphs) == expected


@pytest.mark.django_db
def test_wire_stories_import_one_segment_per_paragraph(tmp_path: Path) -> None:
    folder = tmp_path / "wire"
    folder.mkdir()
    for n, story in enumerate(STORIES):
        (folder / f"story-{n}.txt").write_text(wire_text(story), encoding="utf-8")

    result = articles_import(collection=CollectionFactory(), paths=[folder])

    assert result.succeeded, result.errors
    assert result.articles_created == len(STORIES)
    assert result.segments_created == sum(len(s["paragraphs"]) for s in STORIES)


def test_text_with_long_lines_is_left_as_it_is() -> None:
    text = "Short menu\n\n" + "A long paragraph of prose that goes on. " * 10 + "\nHome\n"
    assert wrap_width(text.split("\n")) is None
    assert reflow(text) == text


def test_a_line_ending_a_sentence_that_was_not_full_ends_its_paragraph() -> None:
    text = (
        "The council met on Monday and agreed on a budget for the coming\n"
        "year after a long debate.\n"
        "Contact us\n"
        "The mayor said the vote showed that the city could still reach\n"
        "an agreement when it mattered, and thanked the opposition for it.\n"
    )
    assert reflow(text).split("\n\n") == [
        "The council met on Monday and agreed on a budget for the coming year after a long debate.",
        "Contact us",
        "The mayor said the vote showed that the city could still reach an agreement when it"
        " mattered, and thanked the opposition for it.\n",
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("TAIPEI, March 3 -", True),
        ("WELLINGTON, June 12 (Reuters) -", True),
        ("LONDON, 3 March 2024 —", True),
        ("WARSAW --", True),
        ("Taipei is a city -", False),
        ("CONTACT US", False),
    ],
)
def test_datelines(line: str, expected: bool) -> None:
    assert is_dateline(line) is expected


def rewrapped(text: str, width: int) -> str:
    return "\n".join(
        textwrap.fill(line, width) if line.strip() else line for line in text.split("\n")
    )


@pytest.mark.parametrize("width", [60, 70, 80])
def test_corpus_pages_rewrapped_clean_as_well_as_unwrapped(corpus: Path, width: int) -> None:
    unwrapped = mean_score([cleaned for _, cleaned, _ in txt_scores()]).f1
    wrapped = mean_score(
        [cleaned for _, cleaned, _ in txt_scores(transform=lambda t: rewrapped(t, width))]
    ).f1

    assert wrapped >= unwrapped - 0.03, (width, wrapped, unwrapped)
