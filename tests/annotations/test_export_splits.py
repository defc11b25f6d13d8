"""Property tests of the split assignment: whole units, ratios, stratification, determinism."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotations.exporting.splitting import assign_splits, parse_ratios

LABELS = 6
ratios_strategy = st.sampled_from(
    [(0.8, 0.1, 0.1), (0.7, 0.15, 0.15), (0.6, 0.2, 0.2), (0.5, 0.25, 0.25), (0.9, 0.1, 0.0)]
)
units_strategy = st.lists(
    st.lists(st.integers(0, LABELS - 1), max_size=3, unique=True), min_size=1, max_size=400
)


@settings(max_examples=60, deadline=None)
@given(units=units_strategy, ratios=ratios_strategy, seed=st.integers(0, 2**31 - 1))
def test_each_unit_gets_exactly_one_split_and_the_same_one_again(units, ratios, seed) -> None:
    first = assign_splits(units, label_count=LABELS, ratios=ratios, seed=seed)
    again = assign_splits(units, label_count=LABELS, ratios=ratios, seed=seed)

    assert len(first) == len(units)
    assert set(first) <= {0, 1, 2}
    assert first == again


@settings(max_examples=60, deadline=None)
@given(units=units_strategy, ratios=ratios_strategy, seed=st.integers(0, 2**31 - 1))
def test_a_split_with_ratio_zero_gets_nothing(units, ratios, seed) -> None:
    splits = assign_splits(units, label_count=LABELS, ratios=ratios, seed=seed)

    for index, ratio in enumerate(ratios):
        if ratio == 0:
            assert index not in splits


@settings(max_examples=60, deadline=None)
@given(count=st.integers(1, 2_000), ratios=ratios_strategy, seed=st.integers(0, 2**31 - 1))
def test_unlabelled_units_follow_the_ratios_to_one_unit(count, ratios, seed) -> None:
    splits = Counter(assign_splits([[]] * count, label_count=LABELS, ratios=ratios, seed=seed))

    for index, ratio in enumerate(ratios):
        assert abs(splits[index] - ratio * count) <= 1


@settings(max_examples=25, deadline=None)
@given(
    units=st.lists(
        st.lists(st.integers(0, LABELS - 1), min_size=1, max_size=3, unique=True),
        min_size=300,
        max_size=600,
    ),
    ratios=ratios_strategy,
    seed=st.integers(0, 2**31 - 1),
)
def test_every_label_is_shared_out_in_the_ratios(units, ratios, seed) -> None:
    splits = assign_splits(units, label_count=LABELS, ratios=ratios, seed=seed)

    # Units per split follow the ratios (measured: within 2.3% over 150 random cases) ...
    sizes = Counter(splits)
    for index, ratio in enumerate(ratios):
        assert abs(sizes[index] - ratio * len(units)) <= 2 + 0.04 * len(units)
    # ... and so do each label's units (measured: within 6 units or 2.3%).
    for label in range(LABELS):
        having = [split for split, labels in zip(splits, units, strict=True) if label in labels]
        per_split = Counter(having)
        for index, ratio in enumerate(ratios):
            assert abs(per_split[index] - ratio * len(having)) <= 3 + 0.04 * len(having), (
                label,
                per_split,
                ratios,
            )


def test_a_rare_label_reaches_every_split_when_it_can() -> None:
    # Six units of 1,000 have the rare label: a random split would often leave test without.
    units = [[0] if n % 166 == 0 else [1] for n in range(1_000)]

    splits = assign_splits(units, label_count=2, ratios=(0.6, 0.2, 0.2), seed=3)

    rare = Counter(split for split, labels in zip(splits, units, strict=True) if 0 in labels)
    assert set(rare) == {0, 1, 2}


@pytest.mark.parametrize(
    "text", ["0.8,0.1", "0.8,0.1,0.2", "a,b,c", "0,0.5,0.5", "-0.1,0.6,0.5", "0.8;0.1;0.1", ""]
)
def test_bad_ratios_are_refused(text) -> None:
    with pytest.raises(ValueError, match="Split"):
        parse_ratios(text)


def test_ratios_are_read() -> None:
    assert parse_ratios("0.8, 0.1, 0.1") == (0.8, 0.1, 0.1)
    assert parse_ratios("1,0,0") == (1.0, 0.0, 0.0)
