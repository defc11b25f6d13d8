"""Near-duplicate wire copies: MinHash signatures, and the groups the import records."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from articles import services
from articles.ingestion.near_duplicates import (
    NUM_PERM,
    NearDuplicateIndex,
    datasketch_signature,
    optimal_bands,
    signature,
    signatures,
    similarity,
)
from articles.models import Article, ImportBatch
from articles.services import articles_import
from tests.factories import CollectionFactory

VOCABULARY = [
    "minister",
    "council",
    "harbour",
    "tariff",
    "election",
    "river",
    "budget",
    "police",
    "school",
    "hospital",
    "festival",
    "court",
    "farmers",
    "energy",
    "railway",
    "museum",
    "storm",
    "exports",
    "union",
    "mayor",
    "bridge",
    "vaccine",
    "drought",
    "airport",
    "students",
    "prices",
    "workers",
    "coalition",
    "summit",
    "treaty",
    "village",
    "market",
]


def story(seed: int, sentences: int = 30) -> list[str]:
    """A made-up news story: ``sentences`` sentences in paragraphs of two."""
    rng = random.Random(seed)
    lines = [
        " ".join(rng.choice(VOCABULARY) + str(rng.randint(0, 99)) for _ in range(14)) + "."
        for _ in range(sentences)
    ]
    return [" ".join(lines[i : i + 2]) for i in range(0, sentences, 2)]


def wire_copy(paragraphs: list[str], seed: int) -> list[str]:
    """The same story as another outlet ran it: one sentence rewritten, a byline added."""
    rng = random.Random(seed)
    copy = list(paragraphs)
    which = rng.randrange(len(copy))
    first, _, rest = copy[which].partition(". ")
    copy[which] = first + ". Officials declined to comment on the matter on Tuesday evening."
    return [f"By Staff Reporter {seed}", *copy]


def write_jsonl(path: Path, stories: list[list[str]]) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": f"s{n}", "title": f"Story {n}", "text": "\n\n".join(p)}) + "\n"
            for n, p in enumerate(stories)
        ),
        encoding="utf-8",
    )
    return path


def body_of(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs)


def test_a_wire_copy_is_similar_and_another_story_is_not() -> None:
    original = story(1)

    copy = similarity(signature(body_of(original)), signature(body_of(wire_copy(original, 2))))
    other = similarity(signature(body_of(original)), signature(body_of(story(3))))

    assert copy >= 0.8
    assert other < 0.2


def test_the_signature_is_stable_across_processes() -> None:
    # Stored signatures are compared with ones computed by later imports: no per-process
    # hash seed may enter them.
    assert signature("Officials in Taipei said on Monday")[:8].hex() == (
        signature("officials in  TAIPEI said on monday")[:8].hex()
    )
    assert len(signature("")) == len(signature("word")) == 256


def test_the_index_puts_a_copy_in_its_originals_group_and_keeps_the_threshold() -> None:
    index = NearDuplicateIndex(0.8)
    original = signature(body_of(story(1)))
    index.add(original, group := services.near_duplicates.Group(7))

    match = index.match(signature(body_of(wire_copy(story(1), 5))))

    assert match is not None and match.group is group and match.similarity >= 0.8
    assert index.match(signature(body_of(story(2)))) is None
    with pytest.raises(ValueError):
        NearDuplicateIndex(0)


@pytest.mark.django_db
def test_import_groups_wire_copies_under_the_earliest_article(tmp_path: Path) -> None:
    collection = CollectionFactory()
    a, b = story(1), story(2)
    path = write_jsonl(
        tmp_path / "wire.jsonl", [a, b, wire_copy(a, 10), wire_copy(a, 11), story(3)]
    )

    result = articles_import(collection=collection, paths=[path])

    assert result.succeeded and result.near_duplicates == 2
    articles = {x.external_id: x for x in Article.objects.all()}
    first = articles["s0"]
    assert first.duplicate_of_id is None
    assert articles["s2"].duplicate_of_id == first.pk
    assert articles["s3"].duplicate_of_id == first.pk  # not chained to s2
    assert articles["s2"].duplicate_similarity >= 0.8
    assert articles["s1"].duplicate_of_id is None and articles["s4"].duplicate_of_id is None
    assert {x.duplicate_group_id for x in articles.values()} == {
        first.pk,
        articles["s1"].pk,
        articles["s4"].pk,
    }
    assert result.as_dict()["near_duplicates"] == 2
    assert ImportBatch.objects.get().near_duplicates == 2


@pytest.mark.django_db
def test_groups_span_write_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first article is written in an earlier chunk than its copies, and a copy can share
    # a chunk with its original (the original's id is only known once it is written).
    monkeypatch.setattr(services, "WRITE_CHUNK", 2)
    collection = CollectionFactory()
    a = story(1)
    stories = [story(5), a, wire_copy(a, 1), story(6), wire_copy(a, 2), wire_copy(a, 3)]
    path = write_jsonl(tmp_path / "chunks.jsonl", stories)

    result = articles_import(collection=collection, paths=[path])

    assert result.near_duplicates == 3
    first = Article.objects.get(external_id="s1")
    assert sorted(
        Article.objects.filter(duplicate_of=first).values_list("external_id", flat=True)
    ) == ["s2", "s4", "s5"]
    assert Article.objects.filter(duplicate_of__isnull=False).count() == 3


@pytest.mark.django_db
def test_a_later_import_finds_copies_of_articles_already_stored(tmp_path: Path) -> None:
    collection = CollectionFactory()
    a = story(1)
    articles_import(collection=collection, paths=[write_jsonl(tmp_path / "one.jsonl", [a])])
    # Articles stored before signatures were kept have none: the next import computes it.
    Article.objects.update(minhash=None)

    result = articles_import(
        collection=collection,
        paths=[write_jsonl(tmp_path / "two.jsonl", [a, wire_copy(a, 4), story(2)])],
    )

    first = Article.objects.get(external_id="s0", import_batch__isnull=False, minhash__isnull=False)
    assert result.duplicates_skipped == 1  # the exact copy: not stored, not a near-copy
    assert result.near_duplicates == 1
    copy = Article.objects.get(import_batch=result.batch, external_id="s1")
    assert copy.duplicate_of_id == first.pk
    assert Article.objects.filter(minhash__isnull=True).count() == 0


@pytest.mark.django_db
def test_copies_in_another_collection_are_not_grouped(tmp_path: Path) -> None:
    a = story(1)
    articles_import(collection=CollectionFactory(), paths=[write_jsonl(tmp_path / "a.jsonl", [a])])

    result = articles_import(
        collection=CollectionFactory(), paths=[write_jsonl(tmp_path / "b.jsonl", [wire_copy(a, 1)])]
    )

    assert result.near_duplicates == 0


@pytest.mark.django_db
def test_the_threshold_is_configurable(tmp_path: Path, settings) -> None:
    a = story(1)
    path = write_jsonl(tmp_path / "wire.jsonl", [a, wire_copy(a, 1)])
    strict = CollectionFactory()
    assert articles_import(collection=strict, paths=[path], near_duplicate_threshold=1.0)
    assert not Article.objects.filter(collection=strict, duplicate_of__isnull=False).exists()

    settings.THEMATA_NEAR_DUPLICATE_THRESHOLD = 0.5
    loose = CollectionFactory()
    result = articles_import(collection=loose, paths=[path])

    assert result.near_duplicates == 1
    assert (
        ImportBatch.objects.filter(collection=loose).get().options["near_duplicate_threshold"]
        == 0.5
    )


@pytest.mark.parametrize("seed", range(5))
def test_signature_is_datasketchs_minhash(seed: int) -> None:
    # The vectorised signature computes exactly what datasketch's MinHash gives for the same
    # shingle hashes (same scheme, seed and permutations).
    text = body_of(story(seed)) + " Ünïcode wörds, too."

    assert signature(text) == datasketch_signature(text)


def test_signatures_of_many_texts_are_each_texts_signature() -> None:
    texts = [body_of(story(seed)) for seed in range(40)]
    # Short texts (a shingle or less), empty ones, long ones spanning batches, other scripts.
    texts += ["", "one", "one two", "a b c", "a b c d", "word " * 20_000, "Ünïcode wörds " * 9]

    assert signatures(texts) == [signature(text) for text in texts]
    assert signatures([]) == []


def test_the_permutations_and_bands_are_datasketchs() -> None:
    # Drawn and optimised here without importing datasketch (and scipy) in the importer;
    # they must stay the ones datasketch uses, or stored signatures stop comparing.
    from datasketch import MinHash
    from datasketch.lsh import _optimal_param

    template = MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32")

    assert services.near_duplicates._A.tolist() == [int(a) for a in template.permutations[0]]
    assert services.near_duplicates._B.tolist() == [int(b) for b in template.permutations[1]]
    for threshold in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0):
        assert optimal_bands(threshold, NUM_PERM, 0.05, 0.95) == _optimal_param(
            threshold, NUM_PERM, 0.05, 0.95
        )


def test_the_importer_loads_neither_scipy_nor_trafilatura_before_it_needs_them() -> None:
    # Each costs every import process (a command, an upload) a noticeable start-up.
    code = (
        "import sys, django; django.setup();"
        " import articles.services, articles.management.commands.import_articles;"
        " print(sorted({'scipy', 'datasketch', 'trafilatura'} & set(sys.modules)))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )

    assert done.stdout.strip() == "[]"
