"""Split allocation: stratified by label, seeded, independent of input order, groups kept."""

from __future__ import annotations

from collections import Counter

import pytest

from dfshield.dataset_builder.split_allocation import split_videos
from dfshield.errors import ConfigError

SPLITS = ("train", "val", "test")


def test_split_is_stratified_seeded_and_order_independent():
    names = [f"r{i}" for i in range(100)] + [f"f{i}" for i in range(20)]
    labels = [0] * 100 + [1] * 20
    a = split_videos(names, labels, seed=3)
    counts = Counter((a[n], lab) for n, lab in zip(names, labels))
    assert [counts[(s, 0)] for s in SPLITS] == [70, 15, 15]
    assert [counts[(s, 1)] for s in SPLITS] == [14, 3, 3]
    assert split_videos(names, labels, seed=3) == a
    assert split_videos(names[::-1], labels[::-1], seed=3) == a  # input order does not matter
    assert split_videos(names, labels, seed=4) != a
    # a minority of 3 still reaches every split
    small = split_videos(["a", "b", "c", "d"], [1, 1, 1, 0], seed=0)
    assert sorted(small[n] for n in "abc") == ["test", "train", "val"]
    with pytest.raises(ConfigError):
        split_videos(["a"], [0], fractions=(0.5, -0.1, 0.6))


def test_split_keeps_groups_together():
    names = [f"v{i}" for i in range(60)]
    labels = [i % 3 == 0 for i in range(60)]
    groups = [f"g{i // 4}" for i in range(60)]  # 15 groups of 4 videos
    result = split_videos(names, labels, seed=1, groups=groups)
    by_group: dict[str, set] = {}
    for n, g in zip(names, groups):
        by_group.setdefault(g, set()).add(result[n])
    assert all(len(s) == 1 for s in by_group.values())
    assert set(result.values()) == set(SPLITS)
