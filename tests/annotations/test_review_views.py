"""The review screen, the data browser and the annotators' reviewed answers."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotations.models import GoldLabel, Membership, SegmentReview
from annotations.services.answers import annotation_submit
from annotations.services.review import gold_label_set
from articles.models import Segment
from tests.factories import MembershipFactory, SegmentedArticleFactory, labelled_project

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def team_project():
    return labelled_project(name="Review team", slug="review-team", annotators_per_segment=2)


@pytest.fixture
def pair(team_project):
    return [
        MembershipFactory(
            project=team_project, role=Membership.Role.ANNOTATOR, user__username=name
        ).user
        for name in ("alice", "bob")
    ]


@pytest.fixture
def checker(team_project):
    return MembershipFactory(
        project=team_project, role=Membership.Role.REVIEWER, user__username="carol"
    ).user


@pytest.fixture
def checker_client(client, checker):
    client.force_login(checker)
    return client


def segments(project) -> list[Segment]:
    return list(
        Segment.objects.filter(article__collection=project.collection)
        .select_related("article")
        .order_by("pk")
    )


def labels(project) -> list:
    return list(project.label_set.labels.order_by("order"))


def disagree_on(project, pair, segment, *, comment: str = "") -> None:
    one, two = labels(project)[:2]
    annotation_submit(project=project, segment=segment, annotator=pair[0], labels=[one])
    annotation_submit(
        project=project, segment=segment, annotator=pair[1], labels=[two], comment=comment
    )


def review_url(project, segment=None) -> str:
    url = reverse("annotations:review", kwargs={"slug": project.slug})
    return f"{url}?segment={segment.pk}" if segment else url


def save_url(project, segment) -> str:
    return reverse("annotations:gold_save", kwargs={"slug": project.slug, "segment_id": segment.pk})


def shown_segment(response) -> int | None:
    found = re.search(r'id="workspace"[^>]*data-segment-id="(\d+)"', response.content.decode())
    return int(found.group(1)) if found else None


# The review screen


def test_the_queue_opens_on_a_disagreement_with_names_hidden(
    checker_client, team_project, pair
) -> None:
    first, second = segments(team_project)[:2]
    disagree_on(team_project, pair, second, comment="Could be either")

    response = checker_client.get(review_url(team_project))

    html = response.content.decode()
    assert response.status_code == 200
    assert shown_segment(response) == second.pk
    assert "Annotator A" in html and "Annotator B" in html
    assert "alice" not in html and "bob" not in html
    assert "Could be either" in html
    assert "0% of pairs agree" in html
    assert "awaiting review: <strong" in html


def test_names_are_shown_on_request(checker_client, team_project, pair) -> None:
    segment = segments(team_project)[0]
    disagree_on(team_project, pair, segment)

    response = checker_client.get(review_url(team_project, segment) + "&names=1", **HTMX)

    html = response.content.decode()
    assert "<html" not in html
    assert "alice" in html and "bob" in html


def test_saving_a_decision_shows_the_next_item_and_counts_it(
    checker_client, checker, team_project, pair
) -> None:
    first, second = segments(team_project)[:2]
    disagree_on(team_project, pair, first)
    disagree_on(team_project, pair, second)
    two = labels(team_project)[1]

    response = checker_client.post(
        save_url(team_project, first),
        {"action": "submit", "labels": [two.pk], "note": "Second theme", "version": 0},
        **HTMX,
    )

    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert shown_segment(response) == second.pk
    assert response["HX-Push-Url"] == review_url(team_project, second)
    assert re.search(r'data-testid="gold-count">1<', response.content.decode())
    gold = GoldLabel.objects.get(project=team_project, segment=first)
    assert (gold.source, gold.reviewer, gold.note) == ("adjudicated", checker, "Second theme")
    assert gold.label_ids() == {two.pk}


def test_a_plain_post_redirects_to_the_next_item(checker_client, team_project, pair) -> None:
    first, second = segments(team_project)[:2]
    disagree_on(team_project, pair, first)
    disagree_on(team_project, pair, second)

    response = checker_client.post(
        save_url(team_project, first),
        {"action": "submit", "labels": [labels(team_project)[0].pk], "version": 0},
    )

    assert response.status_code == 302
    assert response["Location"] == review_url(team_project, second)
    assert GoldLabel.objects.get(segment=first).source == "adjudicated"


def test_passing_on_an_item_saves_nothing(checker_client, team_project, pair) -> None:
    first, second = segments(team_project)[:2]
    disagree_on(team_project, pair, first)
    disagree_on(team_project, pair, second)

    response = checker_client.post(
        save_url(team_project, first), {"action": "skip", "version": 0}, **HTMX
    )

    assert shown_segment(response) == second.pk
    assert not GoldLabel.objects.exists()


def test_a_stale_decision_is_refused_with_409_and_the_stored_labels(
    client, checker_client, team_project, pair
) -> None:
    segment = segments(team_project)[0]
    disagree_on(team_project, pair, segment)
    one, two = labels(team_project)[:2]
    other = MembershipFactory(
        project=team_project, role=Membership.Role.MANAGER, user__username="dave"
    ).user
    gold_label_set(project=team_project, segment=segment, reviewer=other, labels=[one])

    response = checker_client.post(
        save_url(team_project, segment),
        {"action": "submit", "labels": [two.pk], "version": 0},
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 409
    assert "Stored now (version 1" in html
    assert "by dave" in html
    assert 'name="version" value="1"' in html
    gold = GoldLabel.objects.get(segment=segment)
    assert gold.label_ids() == {one.pk}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "submit", "version": 0}, "at least one label"),
        ({"action": "submit", "labels": ["999999"], "version": 0}, "not in this project"),
        ({"action": "submit", "labels": ["x"], "version": 0}, "not in this project"),
        ({"action": "dance", "version": 0}, "dance"),
    ],
)
def test_refusals_come_back_in_place_as_400(
    checker_client, team_project, pair, data, message
) -> None:
    segment = segments(team_project)[0]
    disagree_on(team_project, pair, segment)

    response = checker_client.post(save_url(team_project, segment), data, **HTMX)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert shown_segment(response) == segment.pk
    assert not GoldLabel.objects.exists()


def test_an_empty_queue_says_so(checker_client, team_project) -> None:
    response = checker_client.get(review_url(team_project))

    assert response.status_code == 200
    assert "Nothing to review" in response.content.decode()


def test_the_history_lists_every_change(checker_client, checker, team_project, pair) -> None:
    segment = segments(team_project)[0]
    disagree_on(team_project, pair, segment)
    one, two = labels(team_project)[:2]
    gold_label_set(project=team_project, segment=segment, reviewer=checker, labels=[one])
    gold_label_set(
        project=team_project,
        segment=segment,
        reviewer=checker,
        labels=[two],
        note="<b>bold</b> change",
        expected_version=1,
    )

    html = checker_client.get(review_url(team_project, segment)).content.decode()

    assert "Gold label history" in html
    assert "v1 · carol" in html and "v2 · carol" in html
    assert "&lt;b&gt;bold&lt;/b&gt; change" in html
    assert "<b>bold</b>" not in html


def grow(project, pair, articles: int) -> None:
    """More articles, each segment answered (and disagreed on) by both."""
    for index in range(articles):
        SegmentedArticleFactory(
            collection=project.collection,
            body=f"One {index}.\n\nTwo {index}.\n\nThree {index}.",
        )
    for segment in segments(project):
        if not SegmentReview.objects.filter(project=project, segment=segment).exists():
            disagree_on(project, pair, segment)


@pytest.mark.parametrize("articles", [0, 10])
def test_review_pages_run_a_fixed_number_of_queries(
    checker_client, team_project, pair, articles, django_assert_max_num_queries
) -> None:
    disagree_on(team_project, pair, segments(team_project)[0])
    grow(team_project, pair, articles)
    first = segments(team_project)[0]

    with django_assert_max_num_queries(11):
        assert checker_client.get(review_url(team_project)).status_code == 200
    with django_assert_max_num_queries(23):
        response = checker_client.post(
            save_url(team_project, first),
            {"action": "submit", "labels": [labels(team_project)[0].pk], "version": 0},
            **HTMX,
        )
    assert response.status_code == 200


def test_the_gold_form_uses_the_labelling_keyboard(checker_client, team_project, pair) -> None:
    segment = segments(team_project)[0]
    disagree_on(team_project, pair, segment)

    html = checker_client.get(review_url(team_project)).content.decode()

    assert "js/annotate.js" in html
    assert 'id="answer-form"' in html
    assert 'data-shortcut="1"' in html
    assert 'value="submit"' in html and 'value="skip"' in html


def test_the_gold_form_has_the_labelling_screens_contrast_and_guidelines(
    checker_client, team_project, pair
) -> None:
    # The review screen once had its own copy of the label buttons, which missed the text
    # colour chosen by luminance (WCAG AA) and the keyboard-reachable guidelines.
    segment = segments(team_project)[0]
    disagree_on(team_project, pair, segment)
    label = labels(team_project)[0]
    label.description = "Mentions of <poverty> & hardship."
    label.color = "#ffff00"
    label.save()

    html = checker_client.get(review_url(team_project)).content.decode()

    button = re.search(rf'<button[^>]*data-label-id="{label.pk}"[^>]*>', html, re.S)
    assert button is not None
    assert f'data-text-color="{label.text_color}"' in button.group(0)
    assert label.text_color == "#000000"
    assert f'aria-describedby="guideline-{label.pk}"' in button.group(0)
    assert f'<dd id="guideline-{label.pk}">Mentions of &lt;poverty&gt; &amp; hardship.</dd>' in html


# Annotators see the decisions on their answers


def test_an_annotator_sees_gold_next_to_their_own_answers(
    client, checker, team_project, pair
) -> None:
    first, second, third = segments(team_project)[:3]
    one, two = labels(team_project)[:2]
    disagree_on(team_project, pair, first)
    for user in pair:  # unanimous: accepted automatically
        annotation_submit(project=team_project, segment=second, annotator=user, labels=[two])
    disagree_on(team_project, pair, third)  # not decided yet
    gold_label_set(
        project=team_project, segment=first, reviewer=checker, labels=[two], note="See guideline"
    )
    client.force_login(pair[0])

    response = client.get(reverse("annotations:reviewed", kwargs={"slug": team_project.slug}))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("<tr class=") == 2
    assert "differs" in html and "same" in html
    assert "See guideline" in html
    assert third.text not in html


def test_the_reviewed_list_pages_by_segment(client, team_project, pair) -> None:
    one = labels(team_project)[0]
    for segment in segments(team_project):
        for user in pair:
            annotation_submit(project=team_project, segment=segment, annotator=user, labels=[one])
    client.force_login(pair[1])
    url = reverse("annotations:reviewed", kwargs={"slug": team_project.slug})
    last = segments(team_project)[-2]

    response = client.get(f"{url}?after={last.pk}", **HTMX)

    html = response.content.decode()
    assert "<html" not in html
    assert html.count("<tr class=") == 1
    assert segments(team_project)[-1].text[:20] in html


def test_a_keyboard_save_without_the_buttons_value_is_a_save(
    checker_client, team_project, pair
) -> None:
    # htmx may post a form submitted from the keyboard without the submit button's value.
    segment = segments(team_project)[0]
    disagree_on(team_project, pair, segment)

    response = checker_client.post(
        save_url(team_project, segment),
        {"labels": [labels(team_project)[0].pk], "version": 0},
        **HTMX,
    )

    assert response.status_code == 200
    assert GoldLabel.objects.get(segment=segment).source == "adjudicated"


# The reviewers' decisions in the annotator's article view


def article_url(project, segment) -> str:
    url = reverse(
        "annotations:article_detail",
        kwargs={"slug": project.slug, "article_id": segment.article_id},
    )
    return f"{url}?segment={segment.pk}"


def test_the_article_view_shows_the_decisions_on_my_answers(
    client, team_project, pair, checker, django_assert_max_num_queries
) -> None:
    first, second, third = segments(team_project)[:3]
    one, two, three = labels(team_project)[:3]
    alice, bob = pair
    # first: we disagree, the reviewer decides theme 3 with a note.
    disagree_on(team_project, pair, first)
    gold_label_set(
        project=team_project, segment=first, reviewer=checker, labels=[three], note="Both off"
    )
    # second: we agree, accepted as unanimous gold: nothing to show.
    for person in pair:
        annotation_submit(project=team_project, segment=second, annotator=person, labels=[one])
    assert GoldLabel.objects.get(segment=second).source == GoldLabel.Source.UNANIMOUS
    # third: bob answered, alice did not; the gold is not hers to see.
    annotation_submit(project=team_project, segment=third, annotator=bob, labels=[two])
    client.force_login(alice)

    # The article view's queries (the first request of a session) and one for the decisions.
    with django_assert_max_num_queries(12):
        response = client.get(article_url(team_project, first), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.count('data-testid="review-decision"') == 1
    decision = re.search(r'data-testid="review-decision">(.*?)</q></span>', html, re.S).group(1)
    assert "reviewed: gold =" in decision and three.name in decision
    assert "(adjudicated)" in decision and "Both off" in decision
    assert one.name not in decision  # her own answer is in the chips, not in the marker


def test_a_gold_label_on_a_segment_i_skipped_is_shown(client, team_project, pair, checker) -> None:
    first = segments(team_project)[0]
    two = labels(team_project)[1]
    alice, bob = pair
    annotation_submit(
        project=team_project, segment=first, annotator=alice, labels=[], status="skipped"
    )
    annotation_submit(project=team_project, segment=first, annotator=bob, labels=[two])
    # Bob's is the only submitted answer: the reviewer's same labels are "unanimous".
    gold_label_set(project=team_project, segment=first, reviewer=checker, labels=[two])
    assert GoldLabel.objects.get(segment=first).source == GoldLabel.Source.UNANIMOUS
    client.force_login(alice)

    html = client.get(article_url(team_project, first)).content.decode()

    assert html.count('data-testid="review-decision"') == 1
    assert "(unanimous)" in html
    client.force_login(bob)  # the gold is his answer: nothing to see
    html = client.get(article_url(team_project, first)).content.decode()
    assert 'data-testid="review-decision"' not in html
