"""Each built video to train/val/test: stratified by label, seeded, groups kept together."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

import numpy as np

from dfshield.dataset_builder.layout import LABELS, SPLITS, normalize_label
from dfshield.errors import ConfigError, DataError

DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)

K = TypeVar("K", bound=Hashable)  # a video's name: the caller's own key type


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate and normalise (train, val, test) fractions."""
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"Split fractions must be three numbers (train, val, test), got {fractions!r}."
        ) from exc
    if len(values) != 3 or any(not math.isfinite(v) or v < 0 for v in values) or sum(values) <= 0:
        raise ConfigError(
            "Split fractions must be three non-negative numbers (train, val, test) with a "
            f"positive sum, got {fractions!r}; e.g. 0.7,0.15,0.15."
        )
    total = sum(values)
    return tuple(v / total for v in values)  # type: ignore[return-value]


def _allocate(n: int, fractions: Sequence[float]) -> list[int]:
    """Counts proportional to ``fractions`` (largest remainder), >= 1 per positive fraction."""
    raw = [n * f for f in fractions]
    counts = [int(math.floor(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    positive = [i for i, f in enumerate(fractions) if f > 0]
    if n >= len(positive):
        for i in positive:
            if counts[i] == 0:
                donor = max(positive, key=lambda j: (counts[j], -j))
                counts[donor] -= 1
                counts[i] += 1
    return counts


def _cost_increase(
    need: dict[str, int], targets: dict[str, list[int]], current: dict[str, list[int]], split: int
) -> float:
    """Rise in squared gap to the per-label targets if ``need`` videos per label join ``split``."""
    total = 0.0
    for lab in LABELS:
        before = targets[lab][split] - current[lab][split]
        after = before - need[lab]
        total += after * after - before * before
    return total


def split_videos(
    video_names: Sequence[K],
    labels: Sequence[Any],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    groups: Sequence[Hashable | None] | None = None,
) -> dict[K, str]:
    """Assign each video to train/val/test: per label a ``(seed, label)`` shuffle cut by
    ``fractions`` (order-free); ``groups`` (None: own) keep related videos together, placed near
    those targets."""
    names = list(video_names)
    if len(names) != len(labels):
        raise ConfigError(f"split_videos got {len(names)} video names but {len(labels)} labels.")
    if len(set(names)) != len(names):
        seen: set = set()
        dup = next(n for n in names if n in seen or seen.add(n))  # type: ignore[func-returns-value]
        raise DataError(
            f"Video name {dup!r} appears twice; video names given to split_videos must be unique."
        )
    fracs = check_fractions(fractions)
    label_of = {n: normalize_label(lab) for n, lab in zip(names, labels)}
    if groups is not None and len(groups) != len(names):
        raise ConfigError(f"split_videos got {len(names)} video names but {len(groups)} groups.")

    if groups is None or all(g is None for g in groups):
        result: dict[K, str] = {}
        for li, lab in enumerate(LABELS):
            members = sorted((n for n in names if label_of[n] == lab), key=repr)
            rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, li])
            members = [members[i] for i in rng.permutation(len(members))]
            start = 0
            for split, count in zip(SPLITS, _allocate(len(members), fracs)):
                for n in members[start : start + count]:
                    result[n] = split
                start += count
        return result

    # group-aware: gather groups, then greedy placement towards per-label targets
    group_members: dict[Any, list] = {}
    for n, g in zip(names, groups):
        key = ("group", g) if g is not None else ("video", n)
        group_members.setdefault(key, []).append(n)
    targets = {lab: _allocate(sum(1 for n in names if label_of[n] == lab), fracs) for lab in LABELS}
    current = {lab: [0, 0, 0] for lab in LABELS}
    keys = sorted(group_members, key=repr)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 7])
    keys = [keys[i] for i in rng.permutation(len(keys))]
    # stable: big groups first, seeded order within a size
    keys.sort(key=lambda k: -len(group_members[k]))
    result = {}
    for key in keys:
        members = group_members[key]
        need = {lab: sum(1 for n in members if label_of[n] == lab) for lab in LABELS}
        best = min((_cost_increase(need, targets, current, s), s) for s in range(3))[1]
        for lab in LABELS:
            current[lab][best] += need[lab]
        for n in members:
            result[n] = SPLITS[best]
    return result
