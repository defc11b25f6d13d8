"""Train/validation/test splits by whole groups of articles, stratified by label.

A *unit* is a group of articles that must stay together: one article, or every near copy of
one article (``duplicate_of``). Units are split by iterative stratification (Sechidis,
Tsoumakas and Vlahavas, 2011; the ``iterative-stratification`` package) on whether the unit
has each label, so that every label's units are shared out in the asked ratios as far as
whole units allow; then every row goes to its unit's split.
"""

from __future__ import annotations

from collections.abc import Sequence

SPLIT_NAMES = ("train", "validation", "test")


def parse_ratios(text: str) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` → ``(0.8, 0.1, 0.1)``; three non-negative numbers summing to 1."""
    try:
        ratios = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"Split {text!r}: give three numbers such as 0.8,0.1,0.1.") from None
    if len(ratios) != 3:
        raise ValueError(f"Split {text!r}: give three ratios, for train, validation and test.")
    if any(not r >= 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6 or ratios[0] <= 0:
        raise ValueError(
            f"Split {text!r}: ratios are not negative, train's is above 0, and they add up to 1."
        )
    return ratios[0], ratios[1], ratios[2]


def assign_splits(
    unit_labels: Sequence[Sequence[int]],
    *,
    label_count: int,
    ratios: Sequence[float],
    seed: int,
) -> list[int]:
    """The split (an index into ``ratios``) of each unit, given the label indexes it has.

    Deterministic: the same units in the same order, ratios and seed give the same answer.
    Splits with a ratio of 0 get no units.
    """
    # Imported here: numpy and scikit-learn (under iterstrat) weigh ~80 MB, needed by splits only.
    import numpy as np
    from iterstrat.ml_stratifiers import (  # type: ignore[import-untyped]
        IterativeStratification,
    )

    if not unit_labels:
        return []
    used = [n for n, ratio in enumerate(ratios) if ratio > 0]
    if len(used) == 1:
        return [used[0]] * len(unit_labels)
    matrix = np.zeros((len(unit_labels), max(label_count, 1)), dtype=bool)
    for row, labels in enumerate(unit_labels):
        matrix[row, list(labels)] = True
    r = np.asarray([ratios[n] for n in used], dtype=float)
    folds = IterativeStratification(
        labels=matrix, r=r / r.sum(), random_state=np.random.RandomState(seed)
    )
    return [used[int(fold)] for fold in folds]
