"""The shared corpus (../shared/corpus) and its score, for the tests and the benchmark.

Score, as the corpus README defines it: lowercase the text, take the ``\\w+`` words, form the
multiset of consecutive 4-word shingles; precision = shared / ours, recall = shared / truth,
F1 per page, averaged over pages. Several articles from one page are scored together.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import trafilatura

from articles.ingestion import cleaning, html
from articles.ingestion.cleaning import split_scraped_text
from articles.ingestion.html import extract_html

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
ABSENT = f"../shared/corpus is absent ({CORPUS}); corpus tests need it"


def require_corpus() -> Path:
    """The corpus directory; skips the test without it, or fails it where the corpus must be
    (``THEMATA_REQUIRE_CORPUS`` is set: CI, see .ci/run)."""
    if not CORPUS.is_dir():
        if os.environ.get("THEMATA_REQUIRE_CORPUS"):
            pytest.fail(ABSENT)
        pytest.skip(ABSENT)
    return CORPUS


_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Score:
    precision: float
    recall: float
    f1: float


def shingles(text: str) -> Counter[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return Counter(tuple(words[i : i + 4]) for i in range(len(words) - 3))


def shingle_score(text: str, truth: str) -> Score:
    ours, theirs = shingles(text), shingles(truth)
    shared = sum((ours & theirs).values())
    precision = shared / sum(ours.values()) if ours else 0.0
    recall = shared / sum(theirs.values()) if theirs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(precision, recall, f1)


def mean_score(scores: list[Score]) -> Score:
    n = len(scores)
    return Score(
        sum(s.precision for s in scores) / n,
        sum(s.recall for s in scores) / n,
        sum(s.f1 for s in scores) / n,
    )


def _truth(kind: str) -> dict[str, str]:
    data = json.loads((CORPUS / kind / "ground-truth.json").read_text(encoding="utf-8"))
    return {stem: entry["articleBody"] for stem, entry in data.items()}


def txt_scores(transform: Callable[[str], str] | None = None) -> list[tuple[str, Score, Score]]:
    """(page, cleaned score, raw-dump score) for each news-txt page (``transform``: applied to
    each page's text first, such as re-wrapping it at a fixed width)."""
    truth = _truth("news-txt")
    rows = []
    for path in sorted((CORPUS / "news-txt" / "pages").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        if transform is not None:
            text = transform(text)
        cleaned = "\n\n".join(
            "\n\n".join(article.paragraphs) for article in split_scraped_text(text)
        )
        rows.append(
            (
                path.stem,
                shingle_score(cleaned, truth[path.stem]),
                shingle_score(text, truth[path.stem]),
            )
        )
    return rows


def html_scores() -> list[tuple[str, Score]]:
    """(page, extracted-body score) for each news-html page."""
    truth = _truth("news-html")
    rows = []
    for path in sorted((CORPUS / "news-html" / "pages").glob("*.html.gz")):
        stem = path.name.removesuffix(".html.gz")
        page = extract_html(gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace"))
        text = "\n\n".join(page.paragraphs) if page else ""
        rows.append((stem, shingle_score(text, truth[stem])))
    return rows


# --- Cross-validation: the rules' parameters are chosen on one half of the pages and scored on
# the other half, both ways, so the figures say how the rules do on pages they were not tuned on.

# HTML: trafilatura's mode, and when the recall-oriented fallback runs (see html.extract_html).
HTML_GRID: tuple[tuple[str, float], ...] = tuple(
    (mode, ratio) for mode in html.MODES for ratio in (0.0, 0.25, 0.5, 0.75)
)
# Plain text: prose line length, and short sentences taken in at the body's edges.
TXT_GRID: tuple[tuple[int, int], ...] = tuple(
    (good_length, edge) for good_length in (60, 80, 100) for edge in (1, 2, 3)
)


@dataclass(frozen=True, slots=True)
class CrossValidation:
    held_out: float  # mean F1 over all pages, each scored with the parameters of the other half
    chosen: tuple[object, object]  # parameters chosen on the first half, on the second half
    whole_set: float  # mean F1 with the parameters chosen on all pages (tuned and scored alike)
    default: float  # mean F1 with the parameters the code uses
    pages: int


def cross_validate(table: dict[str, dict[object, float]], default: object) -> CrossValidation:
    """``table``: page → parameters → F1. Halves: alternate pages in name order."""
    stems = sorted(table)
    halves = (stems[0::2], stems[1::2])
    grid = list(table[stems[0]])

    def best(pages: list[str]) -> object:
        return max(grid, key=lambda params: sum(table[p][params] for p in pages))

    chosen = (best(halves[0]), best(halves[1]))
    held_out = [table[p][chosen[0]] for p in halves[1]] + [table[p][chosen[1]] for p in halves[0]]
    overall = best(stems)
    return CrossValidation(
        held_out=sum(held_out) / len(stems),
        chosen=chosen,
        whole_set=sum(table[p][overall] for p in stems) / len(stems),
        default=sum(table[p][default] for p in stems) / len(stems),
        pages=len(stems),
    )


def html_table() -> dict[str, dict[object, float]]:
    """F1 of every page under every ``HTML_GRID`` setting (three extractions per page)."""
    truth = _truth("news-html")
    table: dict[str, dict[object, float]] = {}
    for path in sorted((CORPUS / "news-html" / "pages").glob("*.html.gz")):
        stem = path.name.removesuffix(".html.gz")
        document = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
        visible = html.paragraph_words(trafilatura.load_html(document))
        raw = {
            mode: html._extract(trafilatura.load_html(document), "", mode) for mode in html.MODES
        }
        row: dict[object, float] = {}
        for mode, ratio in HTML_GRID:
            page = raw[mode]
            fallback = raw["recall"]
            if mode != "recall" and html.needs_fallback(page, visible, ratio):
                page = html.longer(
                    page, fallback if fallback and html._has_prose(fallback) else None
                )
            text = "\n\n".join(page.paragraphs) if page else ""
            row[(mode, ratio)] = shingle_score(text, truth[stem]).f1
        table[stem] = row
    return table


def txt_table() -> dict[str, dict[object, float]]:
    """F1 of every page under every ``TXT_GRID`` setting."""
    truth = _truth("news-txt")
    texts = {
        path.stem: path.read_text(encoding="utf-8")
        for path in sorted((CORPUS / "news-txt" / "pages").glob("*.txt"))
    }
    table: dict[str, dict[object, float]] = {stem: {} for stem in texts}
    saved = (cleaning._GOOD_LENGTH, cleaning._EDGE_SENTENCES)
    try:
        for good_length, edge in TXT_GRID:
            cleaning._GOOD_LENGTH, cleaning._EDGE_SENTENCES = good_length, edge
            for stem, text in texts.items():
                cleaned = "\n\n".join(
                    "\n\n".join(article.paragraphs) for article in split_scraped_text(text)
                )
                table[stem][(good_length, edge)] = shingle_score(cleaned, truth[stem]).f1
    finally:
        cleaning._GOOD_LENGTH, cleaning._EDGE_SENTENCES = saved
    return table


HTML_DEFAULT = ("precision", html.FALLBACK_RATIO)
TXT_DEFAULT = (cleaning._GOOD_LENGTH, cleaning._EDGE_SENTENCES)
