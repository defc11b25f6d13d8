"""The shared corpus (../shared/corpus) and its score, for the tests and the benchmark.

Score, as the corpus README defines it: lowercase the text, take the ``\\w+`` words, form the
multiset of consecutive 4-word shingles; precision = shared / ours, recall = shared / truth,
F1 per page, averaged over pages. Several articles from one page are scored together.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from articles.ingestion.cleaning import split_scraped_text
from articles.ingestion.html import extract_html

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
ABSENT = f"../shared/corpus is absent ({CORPUS}); corpus tests need it"
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
