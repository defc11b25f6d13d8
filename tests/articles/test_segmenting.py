from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from articles.ingestion import segmenting
from articles.ingestion.segmenting import Span, build_body, paragraph_spans, sentence_spans
from articles.models import content_hash_for

# Hand-made news sentences with the usual traps for splitters: titles (Mr., Mrs., Ms., Dr.),
# country and place abbreviations (U.S., U.K., D.C., St.), "No. 3", dates ("Jan. 5"), times
# (a.m./p.m.), decimals and money, ellipses, quotes closing after the period, ?/! and initials.
# Each inner list is one paragraph; the paragraph text is its sentences joined by single spaces.
GOLD: list[list[str]] = [
    [
        "The U.S. economy grew at a 3.5% annual rate in the third quarter, the Commerce "
        "Department said on Thursday.",
        "Analysts polled by Reuters had expected growth of 2.9%.",
        "Mr. Powell declined to comment on the figures.",
    ],
    [
        "Mrs. Thatcher's former aide, Dr. John Reid, said the U.K. would not follow suit.",
        "The U.S. Senate is expected to vote on the measure next week.",
        "Officials in the U.K. Treasury were less certain.",
    ],
    [
        "The company raised $1.2 billion when it listed on Jan. 5, according to people familiar "
        "with the matter.",
        "Its shares opened at 9:30 a.m. and closed 4.1% higher.",
        "Trading was halted twice before 2 p.m. on Friday.",
    ],
    [
        "Rafael Nadal, the No. 3 seed, lost in straight sets.",
        "He will face the world No. 12 in the doubles on Sunday.",
    ],
    [
        "The vigil was held at St. Paul's Cathedral.",
        "Mourners lined Main St. for more than a mile.",
        "Many had travelled from St. Louis overnight.",
    ],
    [
        '"We will not back down."',
        "The minister then left the room without taking questions.",
        '"Are you serious?" one reporter shouted after her.',
    ],
    [
        "Is this the end of cheap money?",
        "Economists are divided.",
        "What a turnaround!",
        "Bond yields jumped by 0.25 percentage points in a single day.",
    ],
    [
        "The author J. K. Rowling donated £1.5 million to the charity.",
        "George W. Bush and John F. Kennedy Jr. were also mentioned in the report.",
    ],
    [
        "The talks dragged on and on...",
        "Nobody expected a deal by midnight.",
        "Then, just before dawn, the envoys emerged... smiling.",
    ],
    [
        "Gov. Kathy Hochul signed the bill on Feb. 12 in Albany, N.Y., after a long delay.",
        "Sen. Elizabeth Warren and Rep. Jim Jordan disagreed on almost everything else.",
        "Gen. Mark Milley did not attend.",
    ],
    [
        "He was born on Sept. 14, 1980, in Portland, Ore., and moved to Washington, D.C., in 2001.",
        "Prof. Ada Smith of the University of Chicago said the data were sound.",
    ],
    [
        "The U.N. Security Council met on Tuesday.",
        'The E.U. said it would respond "within days."',
        "Apple Inc. and Alphabet Inc. both declined to comment.",
    ],
    [
        "Inflation eased to 3.2 percent in March, from 3.4 percent in February.",
        "The index fell 12.75 points, or 0.5%, to 1,234.56.",
        "Smaller companies, e.g. regional banks, fared worse.",
    ],
    [
        "The storm hit at about 4 a.m. local time.",
        "It left 12,000 homes without power, officials said.",
        "(The figures are preliminary.)",
        "Repairs could take weeks.",
    ],
    [
        "The firm moved its headquarters to the U.S.",
        "It now employs 3,000 people in Texas.",
    ],
    [
        "Prices rose for fuel, food, rent, etc.",
        "Wages did not keep up.",
    ],
    [
        "The final kicks off at 8 p.m.",
        "Tickets sold out within an hour.",
    ],
    [
        "Sales of the iPhone rose 6%.",
        "iPad sales fell.",
        "2020 will be harder, the chief executive warned.",
    ],
    [
        "‘It’s over,’ he said.",
        "‘We lost.’",
        "Mr. and Mrs. Smith left at 10 a.m. on Monday.",
    ],
    [
        "The case, Smith vs. Jones, was dismissed.",
        "An appeal is likely.",
        "Why now?!",
        "Nobody could say.",
    ],
    [
        "Details are posted at www.example.com.",
        "The site was down on Monday.",
    ],
    [
        "Ms. Ardern said the decision was final.",
        "The findings appear in Vol. 3 of the inquiry's report, published at approx. 10 a.m.",
    ],
]


def _gold_paragraph(sentences: list[str]) -> tuple[str, set[int]]:
    """Paragraph text and the offsets where its sentences end (the last one excluded)."""
    text = " ".join(sentences)
    boundaries = set()
    offset = 0
    for sentence in sentences[:-1]:
        offset += len(sentence)
        boundaries.add(offset)
        offset += 1
    return text, boundaries


def _predicted_boundaries(text: str) -> set[int]:
    return {end for _, end in sentence_spans(text)} - {len(text)}


def test_gold_set_boundary_f1() -> None:
    true_positives = false_positives = false_negatives = 0
    for sentences in GOLD:
        text, expected = _gold_paragraph(sentences)
        predicted = _predicted_boundaries(text)
        true_positives += len(predicted & expected)
        false_positives += len(predicted - expected)
        false_negatives += len(expected - predicted)
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / (true_positives + false_negatives)
    f1 = 2 * precision * recall / (precision + recall)
    assert sum(len(sentences) for sentences in GOLD) >= 40
    assert f1 >= 0.95, (precision, recall, f1)
    assert precision >= 0.98, "a split inside a sentence is worse than a missed split"


def _sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


@pytest.mark.parametrize(
    "text",
    [
        "Mr. Powell and Mrs. Yellen met Dr. Reid and Ms. Ardern.",
        "The U.S. Senate and the U.K. Treasury agreed.",
        "The No. 3 seed won on Jan. 5 at St. Paul's Arena.",
        "Growth was 3.5% and revenue reached $1.2 billion.",
        "The author J. K. Rowling spoke at 10 a.m. on Monday.",
        "He waited... and waited.",
        "Gov. Kathy Hochul and Sen. Chuck Schumer spoke in Washington, D.C., on Friday.",
        "It is in Vol. 3, which costs approx. 40 dollars.",
    ],
)
def test_no_split_inside_hard_sentences(text: str) -> None:
    assert _sentences(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '"We will not back down." The minister left.',
            ['"We will not back down."', "The minister left."],
        ),
        ("Is it over? Nobody knows! Stay tuned.", ["Is it over?", "Nobody knows!", "Stay tuned."]),
        (
            "The firm moved to the U.S. It now employs 3,000 people.",
            ["The firm moved to the U.S.", "It now employs 3,000 people."],
        ),
        ("Prices fell 2.5%. Shares rose.", ["Prices fell 2.5%.", "Shares rose."]),
        (
            "The talks dragged on... Nobody expected a deal.",
            ["The talks dragged on...", "Nobody expected a deal."],
        ),
        ("Latency was 5 ms. The test passed.", ["Latency was 5 ms.", "The test passed."]),
    ],
)
def test_splits_real_boundaries(text: str, expected: list[str]) -> None:
    assert _sentences(text) == expected


def test_sentences_never_cross_paragraphs() -> None:
    body = "A heading without a full stop\n\nIt was signed by Mr.\n\nSmith arrived later. He sat."
    assert _sentences(body) == [
        "A heading without a full stop",
        "It was signed by Mr.",
        "Smith arrived later.",
        "He sat.",
    ]
    paragraphs = paragraph_spans(body)
    for start, end in sentence_spans(body):
        assert any(p_start <= start and end <= p_end for p_start, p_end in paragraphs)


def test_line_break_inside_paragraph_is_not_a_paragraph_break() -> None:
    body = "The first phase costs £12.5 million.\nWork starts in May."
    assert paragraph_spans(body) == [(0, len(body))]
    assert _sentences(body) == ["The first phase costs £12.5 million.", "Work starts in May."]


def test_paragraph_spans_examples() -> None:
    body = "\n\n  First para,\tline one\n line two  \n\n\n \t \n\nSecond 😀 para\n\n\n"
    spans = paragraph_spans(body)
    assert [body[start:end] for start, end in spans] == [
        "First para,\tline one\n line two",
        "Second 😀 para",
    ]
    assert spans[0] == (4, 34)


def test_paragraph_spans_crlf_and_unicode_whitespace() -> None:
    body = "One.\r\n\r\nTwo\u00a0\r\n\u2003\r\nThree\u2028"
    assert [body[s:e] for s, e in paragraph_spans(body)] == ["One.", "Two", "Three"]


@pytest.mark.parametrize("body", ["", " ", "\n", "\n\n\n", " \t\n \u00a0\n\u3000"])
def test_empty_or_blank_body(body: str) -> None:
    assert paragraph_spans(body) == []
    assert sentence_spans(body) == []


_PIECES = [
    "word",
    "Word",
    "U.S.",
    "Mr.",
    "Ms.",
    "No. 3",
    "3.5%",
    "$1.2",
    "etc.",
    "...",
    "…",
    ".",
    "?",
    "!",
    '"',
    "“",
    "”",
    "’",
    ")",
    "(",
    "😀",
    "👩‍👩‍👧",
    "e\u0301",
    "Ångström",
    "中文。",
    "ḱ",
    "J. K.",
    " ",
    " ",
    "  ",
    "\t",
    "\n",
    "\n\n",
    "\n \n",
    "\n\n\n\n",
    "\u00a0",
    "\u2009",
    "\u3000",
    "\u2028",
    "B\u00a0.",
    "\r\n",
]


def _random_body(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 60)))


def _assert_valid_spans(body: str, spans: list[Span]) -> None:
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(body), (body, spans)
        text = body[start:end]
        assert text == text.strip() and text, (body, spans)
        previous_end = end


def test_offset_invariants_on_varied_text() -> None:
    rng = random.Random(20240305)
    for _ in range(3000):
        body = _random_body(rng)
        paragraphs = paragraph_spans(body)
        sentences = sentence_spans(body)
        _assert_valid_spans(body, paragraphs)
        _assert_valid_spans(body, sentences)
        for start, end in paragraphs:
            inside = [s for s in sentences if start <= s[0] and s[1] <= end]
            assert inside and inside[0][0] == start and inside[-1][1] == end
            # no non-whitespace character of a paragraph is lost between its sentences
            covered = "".join(body[s:e] for s, e in inside)
            assert "".join(covered.split()) == "".join(body[start:end].split())
        assert sum(len(body[s:e].split()) > 0 for s, e in sentences) == len(sentences)


def test_wide_space_before_period_does_not_crash() -> None:
    # sentencex 1.0.32 panics on "B\u00a0." unless wide spaces are mapped to ASCII first.
    body = "Plan B\u00a0. The council\u3000agreed. Option\u2009C\u202f."
    spans = sentence_spans(body)
    _assert_valid_spans(body, spans)
    assert [body[s:e] for s, e in spans] == [
        "Plan B\u00a0.",
        "The council\u3000agreed.",
        "Option\u2009C\u202f.",
    ]


def test_whitespace_normalising_splitter_is_realigned(monkeypatch: pytest.MonkeyPatch) -> None:
    real_segment = segmenting.sentencex.segment

    def normalising(language: str, text: str) -> list[str]:
        return [" ".join(piece.split()) for piece in real_segment(language, text)]

    monkeypatch.setattr(segmenting.sentencex, "segment", normalising)
    body = "First  sentence\there.   Second\u00a0 one?  Third!"
    assert _sentences(body) == ["First  sentence\there.", "Second\u00a0 one?", "Third!"]


def test_failing_splitter_falls_back_to_whole_paragraph(monkeypatch: pytest.MonkeyPatch) -> None:
    class PanicException(BaseException):
        pass

    def panicking(language: str, text: str) -> list[str]:
        raise PanicException("byte index is not a char boundary")

    def rewriting(language: str, text: str) -> list[str]:
        return [text.upper()]

    body = "One. Two.\n\nThree."
    monkeypatch.setattr(segmenting.sentencex, "segment", panicking)
    assert _sentences(body) == ["One. Two.", "Three."]
    monkeypatch.setattr(segmenting.sentencex, "segment", rewriting)
    assert _sentences(body) == ["One. Two.", "Three."]


def test_keyboard_interrupt_is_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(language: str, text: str) -> list[str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(segmenting.sentencex, "segment", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sentence_spans("One. Two.")


def test_build_body_canonical_form() -> None:
    body = build_body(
        [
            "  Title\tline  ",
            "",
            "   \n\t ",
            "First  line\u00a0here\n\n\n  second line \r\nthird",
            "Emoji 😀 and e\u0301 stay as they are.",
        ]
    )
    assert body == (
        "Title line\n\n"
        "First line here\nsecond line\nthird\n\n"
        "Emoji 😀 and e\u0301 stay as they are."
    )
    assert build_body([]) == ""
    assert build_body(["", "  ", "\n\n"]) == ""


def test_build_body_round_trips_through_paragraph_spans() -> None:
    rng = random.Random(7)
    for _ in range(500):
        paragraphs = [_random_body(rng) for _ in range(rng.randint(0, 6))]
        body = build_body(paragraphs)
        canonical = [p for p in (build_body([p]) for p in paragraphs) if p]
        assert [body[s:e] for s, e in paragraph_spans(body)] == canonical
        assert build_body(canonical) == body


def test_paragraph_spans_grows_linearly_with_the_body() -> None:
    # A complexity check, not a speed target (those are in `make bench`): ten times the
    # paragraphs may take about ten times as long, never a hundred (a quadratic scan). Both
    # sizes are timed best-of-three under the same machine load, so a busy CI host does not
    # change the ratio much.
    paragraph = " ".join(GOLD[0])

    def best_time(count: int) -> float:
        body = build_body(f"{i}. {paragraph}\nSecond line." for i in range(count))
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            spans = paragraph_spans(body)
            timings.append(time.perf_counter() - started)
        assert len(spans) == count
        return min(timings)

    small, large = best_time(10_000), best_time(100_000)
    assert large < 40 * small, f"10x the paragraphs took {large / small:.0f}x as long"


# Paragraph texts with every kind of whitespace and line break, control and format characters.
_paragraph_texts = st.lists(
    st.text(
        alphabet=st.sampled_from(
            list("ab .\\")
            + ["\n", "\r", "\t", "\x0b", "\x0c", "\x1c", "\x85", "\u00a0"]
            + ["\u2028", "\u2029", "\u3000", "\u200b", "\x01", "é"]
        ),
        max_size=30,
    ),
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(_paragraph_texts)
def test_the_importers_spans_and_hash_are_those_of_the_body(paragraphs: list[str]) -> None:
    # The importer takes paragraph spans from the paragraphs it joined, and hashes the body
    # without re-checking it: both must be what scanning the body gives.
    body, spans = segmenting.build_body_and_spans(paragraphs)

    assert body == build_body(paragraphs)
    assert spans == paragraph_spans(body)
    assert content_hash_for(body, canonical=True) == content_hash_for(body)
