"""Training subsamples for the imbalance study: ratios, kept minority videos, filtered JSONs.

Only the training minority is subsampled, by video, to ``⌊n_major / r⌋`` (``minority: fake``:
real:fake = r:1); a ratio must keep 2 to ``n_minority`` videos. Kept: the first of a seeded
permutation of the path-sorted minority (exact, nested across ratios); seed ``i`` is
``train.seed + i``. Only the JSON copies change; ``lmdb_dir`` stays. docs/imbalance.md has the
rules in full.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError, DataError
from dfshield.fileio import write_text_atomic

MINORITY_CLASSES = ("fake", "real")
LABEL_OF = {"real": 0, "fake": 1}


# -- arguments -------------------------------------------------------------------------------


def parse_ratios(values: Sequence[Any] | None) -> list[float]:
    """Ratios as sorted floats; each must be a number >= 1, none repeated."""
    if not values:
        raise ConfigError(
            "give at least one training ratio, e.g. --ratios 1 10 30 100 "
            "(majority:minority = r:1; 1 = balanced)"
        )
    ratios: list[float] = []
    for value in values:
        try:
            if isinstance(value, bool):
                raise ValueError
            ratio = float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"ratio {value!r} is not a number; ratios are numbers >= 1 "
                f"(majority:minority = r:1), e.g. --ratios 1 10 30 100"
            ) from None
        if not math.isfinite(ratio) or ratio < 1:
            raise ConfigError(
                f"ratio {value!r} must be a number >= 1 (majority:minority = r:1; 1 = "
                f"balanced). To make the other class the rare one, keep the ratio and "
                f"flip --minority"
            )
        if ratio in ratios:
            raise ConfigError(f"ratio {value!r} is listed twice in --ratios")
        ratios.append(ratio)
    return sorted(ratios)


def check_minority(minority: str) -> str:
    if minority not in MINORITY_CLASSES:
        raise ConfigError(
            f"--minority must be fake or real, got {minority!r}."
            f"{did_you_mean(str(minority), MINORITY_CLASSES)}"
        )
    return minority


def check_seeds(seeds: Any) -> int:
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(
            f"--seeds is the number of seeds per ratio, an integer >= 1; got {seeds!r}"
        )
    return seeds


def ratio_text(ratio: float) -> str:
    return f"{ratio:g}"


def majority_class(minority: str) -> str:
    """The class kept whole when ``minority`` is subsampled."""
    return "real" if minority == "fake" else "fake"


# -- subsampling -----------------------------------------------------------------------------


def training_videos(data: Any) -> list:
    """The training videos the shared loader reads, one per path, frameless ones out, sorted."""
    from dfshield.data.index import read_split

    seen: dict[str, Any] = {}
    for name in data.train_datasets:
        for record in read_split(data.json_dir, name, "train", data.compression, data.label_dict):
            if record.frames and record.video_path not in seen:
                seen[record.video_path] = record
    return [seen[path] for path in sorted(seen)]


def class_counts(records: Sequence[Any]) -> dict[str, int]:
    """Videos per class: ``{"real": n, "fake": n}``."""
    fake = sum(1 for r in records if r.label == 1)
    return {"real": len(records) - fake, "fake": fake}


def minority_kept(n_majority: int, ratio: float) -> int:
    """``⌊n_majority / ratio⌋``, computed exactly on the ratio's decimal value."""
    return math.floor(Fraction(n_majority) / Fraction(repr(float(ratio))))


def plan_subsample(
    counts: Mapping[str, int],
    ratios: Sequence[float],
    minority: str,
    where: str = "the training split",
) -> dict[float, int]:
    """Minority videos kept at each ratio, every ratio checked."""
    minority = check_minority(minority)
    majority = majority_class(minority)
    n_major, n_min = int(counts[majority]), int(counts[minority])
    have = f"{where} has {counts['real']} real and {counts['fake']} fake videos"
    if n_min < 2 or n_major < 2:
        short = minority if n_min < 2 else majority
        raise DataError(
            f"{have}; an imbalance study needs at least 2 videos of each class in it "
            f"(too few {short} videos). Use training datasets with more videos"
        )
    low, high = n_major / n_min, n_major / 2
    reachable = (
        f"with --minority {minority} (every {majority} video kept) the reachable "
        f"{majority}:{minority} ratios run from {low:.4g} to {high:.4g}"
    )
    plan: dict[float, int] = {}
    for ratio in parse_ratios(ratios):
        kept = minority_kept(n_major, ratio)
        if kept < 2:
            raise DataError(
                f"ratio {ratio_text(ratio)}:1 ({majority}:{minority}) leaves {kept} {minority} "
                f"training video(s) (⌊{n_major} {majority} / {ratio_text(ratio)}⌋); at least 2 are "
                f"needed. {have[0].upper() + have[1:]}: the largest reachable ratio is {high:.4g}; "
                f"{reachable}"
            )
        if kept > n_min:
            flip = ""
            if n_min < n_major:
                flip = (
                    f" {minority.capitalize()} is already the minority class of this split; "
                    f"to reach ratio {ratio_text(ratio)} subsample the {majority} videos instead "
                    f"(every {minority} video kept) with --minority {majority}, or drop the "
                    f"ratios below {low:.4g}"
                )
            raise DataError(
                f"ratio {ratio_text(ratio)}:1 ({majority}:{minority}) needs {kept} {minority} "
                f"training videos (⌊{n_major} {majority} / {ratio_text(ratio)}⌋) but {have}; only "
                f"the {minority} videos are subsampled, never added; {reachable}.{flip}"
            )
        plan[ratio] = kept
    return plan


def select_videos(records: Sequence[Any], minority: str, n_keep: int, seed: int) -> list:
    """Every majority video plus the first ``n_keep`` of the seeded minority permutation."""
    label = LABEL_OF[check_minority(minority)]
    pool = sorted((r for r in records if r.label == label), key=lambda r: r.video_path)
    if not 0 <= n_keep <= len(pool):
        raise DataError(f"cannot keep {n_keep} {minority} videos out of {len(pool)}")
    order = np.random.default_rng(int(seed) % 2**63).permutation(len(pool))
    chosen = {pool[i].video_path for i in order[:n_keep]}
    return sorted(
        (r for r in records if r.label != label or r.video_path in chosen),
        key=lambda r: r.video_path,
    )


def _filter_videos(videos: Any, keep: set[str]) -> Any:
    from dfshield.data.index import video_path_of
    from dfshield.media.frames import sort_frames

    if not isinstance(videos, dict):
        return videos
    kept = {}
    for name, video in videos.items():
        frames = video.get("frames") if isinstance(video, dict) else None
        if isinstance(frames, list) and frames:
            if video_path_of(sort_frames(str(f) for f in frames)[0]) in keep:
                kept[name] = video
    return kept


def filter_train_split(info: dict, keep: set[str]) -> dict:
    """A dataset JSON copy whose ``train`` split (every level) holds only paths in ``keep``."""
    from dfshield.data.index import is_level_mapping

    result = {}
    for dataset, groups in info.items():
        if not isinstance(groups, dict):
            result[dataset] = groups
            continue
        new_groups = {}
        for group, splits in groups.items():
            if not isinstance(splits, dict) or "train" not in splits:
                new_groups[group] = splits
                continue
            node = splits["train"]
            if is_level_mapping(node):
                node = {level: _filter_videos(videos, keep) for level, videos in node.items()}
            else:
                node = _filter_videos(node, keep)
            new_groups[group] = {**splits, "train": node}
        result[dataset] = new_groups
    return result


def write_subsample(data: Any, kept: Sequence[Any], json_dir: str | os.PathLike) -> Path:
    """Write filtered copies (train datasets) and links (others) into ``json_dir``; check them."""
    from dfshield.data.index import json_path

    out = Path(json_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    keep = {r.video_path for r in kept}
    done: set[str] = set()
    for name in data.train_datasets:
        source = json_path(data.json_dir, name)
        if source.name in done:
            continue
        done.add(source.name)
        info = json.loads(source.read_text(encoding="utf-8"))
        write_if_changed(out / source.name, json.dumps(filter_train_split(info, keep)))
    # every other JSON of the folder is linked, so a run config saved with this json_dir can
    # still name any dataset of the original folder (e.g. dfshield test --extra-test NAME)
    for source in sorted(Path(data.json_dir).glob("*.json")):
        if source.name not in done:
            done.add(source.name)
            _link_or_copy(source.resolve(), out / source.name)
    check = training_videos(dataclasses.replace(data, json_dir=str(out)))
    if [r.video_path for r in check] != [r.video_path for r in kept]:
        raise DataError(
            f"the subsampled training split in {out} reads back {len(check)} videos, "
            f"expected {len(kept)}; please report this with the dataset JSONs"
        )
    return out


def write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` atomically unless already there (stable mtimes keep bank fingerprints)."""
    with _lock(path):
        if path.is_file() and not path.is_symlink():
            try:
                if path.read_text(encoding="utf-8") == text:
                    return
            except OSError:
                pass
        write_text_atomic(path, text)


def _link_or_copy(source: Path, target: Path) -> None:
    import shutil

    with _lock(target):
        if target.is_symlink() and target.resolve() == source:
            return
        if target.exists() or target.is_symlink():
            target.unlink()
        try:
            target.symlink_to(source)
        except OSError:  # pragma: no cover - file systems without symlinks
            shutil.copy2(source, target)


def _lock(path: Path) -> FileLock:
    """A cross-process ``.<name>.lock`` beside ``path``: ranks and studies write it once."""
    lock = path.with_name(f".{path.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(lock)
