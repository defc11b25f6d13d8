"""The data browser: filters, text search, keyset pages, and a fixed number of queries."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotations.models import Membership
from annotations.services.answers import annotation_submit
from annotations.services.browse import PAGE_SIZE
from annotations.services.review import gold_label_set
from articles.models import Segment
from tests.factories import MembershipFactory, SegmentedArticleFactory, labelled_project

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def data():
    """Six segments (k = 2) answered by alice and bob:

    0  both Theme 1                 → unanimous gold
    1  Theme 1 / Theme 2            → disagreement, then adjudicated to Theme 3 by carol
    2  Theme 2 / Theme 2, unsure    → awaiting review
    3  alice Theme 4 with a comment → in progress
    4  bob skipped                  → in progress, skipped
    5  nobody                       → unanswered
    """
    project = labelled_project(name="Browse", slug="browse", annotators_per_segment=2)
    alice, bob, carol = (
        MembershipFactory(project=project, role=role, user__username=name).user
        for name, role in [
            ("alice", Membership.Role.ANNOTATOR),
            ("bob", Membership.Role.ANNOTATOR),
            ("carol", Membership.Role.REVIEWER),
        ]
    )
    segments = list(
        Segment.objects.filter(article__collection=project.collection)
        .select_related("article")
        .order_by("pk")
    )
    one, two, three, four = project.label_set.labels.order_by("order")

    def answer(segment, user, labels, **fields):
        annotation_submit(project=project, segment=segment, annotator=user, labels=labels, **fields)

    answer(segments[0], alice, [one])
    answer(segments[0], bob, [one])
    answer(segments[1], alice, [one])
    answer(segments[1], bob, [two])
    gold_label_set(project=project, segment=segments[1], reviewer=carol, labels=[three])
    answer(segments[2], alice, [two])
    answer(segments[2], bob, [two], unsure=True)
    answer(segments[3], alice, [four], comment="Needle in the haystack")
    answer(segments[4], bob, [], status="skipped")
    return {
        "project": project,
        "segments": segments,
        "users": {"alice": alice, "bob": bob, "carol": carol},
        "labels": [one, two, three, four],
    }


def browse(client, project, **params):
    url = reverse("annotations:data_browser", kwargs={"slug": project.slug})
    return client.get(url, params, **HTMX)


def shown(response) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-segment-id="(\d+)"', response.content.decode())]


def positions(data, indexes) -> list[int]:
    return [data["segments"][i].pk for i in indexes]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [0, 1, 2, 3, 4, 5]),
        ({"label": "one"}, [0, 1]),
        ({"label": "three"}, [1]),  # only in the gold label
        ({"annotator": "alice"}, [0, 1, 2, 3]),
        ({"annotator": "bob"}, [0, 1, 2, 4]),
        ({"status": "unanswered"}, [5]),
        ({"status": "in_progress"}, [3, 4]),
        ({"status": "awaiting_review"}, [2]),
        ({"status": "gold"}, [0, 1]),
        ({"status": "skipped"}, [4]),
        ({"unsure": "on"}, [2]),
        ({"comment": "on"}, [3]),
        ({"disagreement": "on"}, [1]),
        ({"gold": "unanimous"}, [0]),
        ({"gold": "adjudicated"}, [1]),
        ({"gold": "majority"}, []),
        ({"gold": "none"}, [2, 3, 4, 5]),
        ({"q": "haystack"}, []),  # comments are not segment text
        ({"annotator": "alice", "gold": "none"}, [2, 3]),
    ],
)
def test_filters_pick_the_segments_they_name(client, data, params, expected) -> None:
    client.force_login(data["users"]["carol"])
    names = {"one": 0, "two": 1, "three": 2, "four": 3}
    if "label" in params:
        params["label"] = data["labels"][names[params["label"]]].pk
    if "annotator" in params:
        params["annotator"] = data["users"][params["annotator"]].pk

    response = browse(client, data["project"], **params)

    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert shown(response) == positions(data, expected)


def test_text_search_finds_segment_text(client, data) -> None:
    client.force_login(data["users"]["carol"])
    target = data["segments"][4]

    response = browse(client, data["project"], q=target.text[:15].upper())

    assert target.pk in shown(response)


def test_the_page_shows_answers_gold_and_who(client, data) -> None:
    client.force_login(data["users"]["carol"])

    html = client.get(
        reverse("annotations:data_browser", kwargs={"slug": data["project"].slug})
    ).content.decode()

    assert "<html" in html
    assert "alice" in html and "bob" in html
    assert "Needle in the haystack" in html
    assert "Adjudicated · carol" in html
    assert "Unanimous" in html


def test_invalid_filters_are_shown_not_crashed(client, data) -> None:
    client.force_login(data["users"]["carol"])

    response = browse(client, data["project"], status="lost", after="-3")

    assert response.status_code == 400
    assert "not valid" in response.content.decode()


def test_pages_follow_the_segment_keyset(client, data) -> None:
    project = data["project"]
    for index in range(10):
        SegmentedArticleFactory(
            collection=project.collection, body=f"Extra {index}.\n\nMore {index}.\n\nLast {index}."
        )
    client.force_login(data["users"]["carol"])

    first = browse(client, project)
    after = re.search(r"after=(\d+)", first.content.decode()).group(1)
    second = browse(client, project, after=after)

    everything = list(
        Segment.objects.filter(article__collection=project.collection)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert shown(first) == everything[:PAGE_SIZE]
    assert shown(second) == everything[PAGE_SIZE:]
    assert "Next page" not in second.content.decode()


def grow(data, articles: int) -> None:
    project = data["project"]
    alice, bob = data["users"]["alice"], data["users"]["bob"]
    one, two = data["labels"][:2]
    for index in range(articles):
        article = SegmentedArticleFactory(
            collection=project.collection, body=f"Grown {index}.\n\nAgain {index}."
        )
        for segment in article.segments.all():
            annotation_submit(project=project, segment=segment, annotator=alice, labels=[one])
            annotation_submit(
                project=project, segment=segment, annotator=bob, labels=[two], comment="why"
            )


@pytest.mark.parametrize("articles", [0, 20])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"label": "label"},
        {"annotator": "alice"},
        {"status": "awaiting_review", "unsure": "on"},
        {"comment": "on", "disagreement": "on", "gold": "none"},
        {"q": "Paragraph"},
    ],
)
def test_every_filter_runs_a_fixed_number_of_queries(
    client, data, articles, params, django_assert_max_num_queries
) -> None:
    grow(data, articles)
    client.force_login(data["users"]["carol"])
    if "label" in params:
        params["label"] = data["labels"][0].pk
    if "annotator" in params:
        params["annotator"] = data["users"]["alice"].pk

    # Session, user, project; labels, members; the page of segments, their answers, review
    # rows, gold labels and their labels, and the answerers' names.
    with django_assert_max_num_queries(11):
        response = browse(client, data["project"], **params)
    assert response.status_code == 200
