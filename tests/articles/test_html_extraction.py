from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from articles.ingestion.html import ExtractedPage, extract_html
from tests.corpus import Score, html_scores, mean_score, require_corpus, shingle_score

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "html"


def test_shingle_scorer() -> None:
    assert shingle_score("a b c d e", "A b c d e") == Score(1.0, 1.0, 1.0)
    assert shingle_score("a b c d", "w x y z") == Score(0.0, 0.0, 0.0)
    assert shingle_score("", "a b c d") == Score(0.0, 0.0, 0.0)
    score = shingle_score("a b c d e", "a b c d")
    assert (score.precision, score.recall) == (0.5, 1.0)


def test_corpus_pages_average_a_shingle_f1_of_at_least_0_97() -> None:
    require_corpus()

    scores = html_scores()

    assert len(scores) == 45
    average = mean_score([score for _, score in scores])
    assert average.f1 >= 0.97, f"average shingle F1 {average.f1:.4f} < 0.97"


@pytest.fixture(scope="module")
def article() -> ExtractedPage:
    page = extract_html((FIXTURES / "news_article.html").read_text(encoding="utf-8"))
    assert page is not None
    return page


def test_fixture_metadata(article: ExtractedPage) -> None:
    assert article.title == "Harbour Council Approves Tidal Barrier Plan"
    assert article.url == "https://news.example.org/2024/03/05/tidal-barrier-plan"
    assert article.published_at == datetime(2024, 3, 5, 14, 30, tzinfo=timezone(timedelta(hours=1)))


def test_fixture_paragraphs(article: ExtractedPage) -> None:
    paragraphs = article.paragraphs
    assert paragraphs[0].startswith("The harbour council voted 7–2 on Tuesday")
    assert "across the old estuary" in paragraphs[0]  # source line break is plain whitespace
    assert "4,000 homes & businesses" in paragraphs[1]
    assert "“We cannot wait for the next flood,” said the council leader" in paragraphs[1]
    assert paragraphs[2] == (
        "The first phase costs £12.5 million.\n"
        "Work starts in May and should finish within three years, weather permitting."
    )
    assert paragraphs[-1].endswith("but their amendment failed.")
    assert all(p == p.strip() and p for p in paragraphs)
    assert article.title not in paragraphs


def test_fixture_entities_are_literal_text(article: ExtractedPage) -> None:
    text = "\n\n".join(article.paragraphs)
    assert "a literal <script> tag in its footer" in text
    assert "🌊 Residents were less amused." in text
    assert "&lt;" not in text
    assert "&amp;" not in text


def test_fixture_drops_markup_and_chrome(article: ExtractedPage) -> None:
    text = "\n\n".join(article.paragraphs)
    assert "alert(1)" not in text
    assert "<script" not in text.replace("literal <script> tag", "")
    assert "onerror" not in text
    assert "<" not in text.replace("<script>", "")
    for chrome in (
        "Politics Desk",
        "Weather Centre",
        "The Example Gazette",
        "Advertising frame",
        "Related stories",
        "Ferry timetable",
        "All rights reserved",
        "dataLayer",
        "font-family",
    ):
        assert chrome not in text


def test_page_without_main_text_returns_none() -> None:
    assert extract_html((FIXTURES / "no_main_text.html").read_text(encoding="utf-8")) is None
    assert extract_html("") is None
    assert extract_html("<html><body><nav><a href='/'>Home</a></nav></body></html>") is None


def test_relative_canonical_resolved_against_hint() -> None:
    html = (FIXTURES / "news_article.html").read_text(encoding="utf-8")
    html = html.replace(
        "https://news.example.org/2024/03/05/tidal-barrier-plan", "/2024/03/05/tidal-barrier-plan"
    )
    page = extract_html(html, url_hint="https://mirror.example.net/some/path?x=1")
    assert page is not None
    assert page.url == "https://mirror.example.net/2024/03/05/tidal-barrier-plan"


def test_url_hint_is_not_returned_as_canonical() -> None:
    html = (FIXTURES / "news_article.html").read_text(encoding="utf-8")
    html = re.sub(r'\s*<link rel="canonical"[^>]*>', "", html)
    page = extract_html(html, url_hint="https://mirror.example.net/story")
    assert page is not None
    assert page.url == ""


def test_canonical_link_preferred_over_og_url_even_outside_head() -> None:
    html = (FIXTURES / "news_article.html").read_text(encoding="utf-8")
    canonical = (
        '<link rel="canonical" href="https://news.example.org/2024/03/05/tidal-barrier-plan">'
    )
    html = html.replace(canonical, '<meta property="og:url" content="https://share.example.org/x">')
    html = html.replace("<main>", f"<main>{canonical}")
    page = extract_html(html)
    assert page is not None
    assert page.url == "https://news.example.org/2024/03/05/tidal-barrier-plan"

    page = extract_html(html.replace(canonical, ""))
    assert page is not None
    assert page.url == "https://share.example.org/x"
