"""Training subsamples for the imbalance study: parse and check the ratios and seeds, plan how many
minority videos each ratio keeps, pick them (seeded, by video) and write the filtered dataset JSONs
the shared loader reads. Orchestration is in :mod:`dfshield.studies.imbalance`.

**What a ratio means.** Only the *minority* class of the training split is subsampled, by video;
every video of the other class is kept and the validation and test splits are never touched.

* ``minority="fake"`` (default): all real training videos are kept and
  ``n_fake_kept = ⌊n_real / r⌋``, so the split is real:fake = r:1 (DDLN's Celeb-10/20/30 subsets).
* ``minority="real"``: all fakes are kept and ``n_real_kept = ⌊n_fake / r⌋`` (fake:real = r:1, the
  DFWild-Cup situation of the SP Cup paper).

``r = 1`` is balanced. A ratio is *reachable* when it keeps at least 2 minority videos
(``⌊n_major / r⌋ >= 2``) and no more than exist (``⌊n_major / r⌋ <= n_minority``: the minority is
never up-sampled and the majority never subsampled), i.e. ``n_major / n_minority <= r <=
n_major / 2`` roughly. Every ratio is checked before anything trains; an unreachable one is an
error naming the counts, the reachable range and, when the requested class is already the rarer
one, how to flip it with ``--minority``. Ratios must be numbers >= 1.

**Which videos.** The minority videos are sorted by full video path and permuted with a generator
seeded by the run's seed; the first ``n`` are kept. So counts are exact, the same seed gives the
same videos whatever the file order, and for one seed the subsets are nested (the videos kept at
ratio 30 are among those kept at ratio 10). Seed ``i`` of ``seeds`` (0-based) is
``train.seed + i`` and sets both the subsample and ``train.seed``; ``i = 0`` trains with the
protocol's own seed.

**How the subsample reaches the loader.** For each (ratio, seed) the training datasets' JSONs are
written into the run folder as filtered copies (their ``train`` split holds exactly the kept
videos; ``val`` and ``test`` are copied unchanged; every other JSON of the folder is linked) and
the run's ``data.json_dir`` points there. ``data.lmdb_dir`` stays the original: frame paths, hence
LMDB keys, are unchanged. The shared loader (``DeepfakeDataset``) reads the copy, so class counts
(e.g. the VS loss's balanced weights), training and the saved ``config.json`` all see the
subsample.
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
    """The training videos the shared loader reads (``VideoRecord``), one per full video path,
    videos without frames left out, sorted by path."""
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
    """Minority videos kept at each ratio; every ratio is checked (see the module docstring)."""
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
    """Every majority video plus ``n_keep`` minority videos: the first ``n_keep`` of a permutation
    (seeded by ``seed``) of the minority videos sorted by full video path. Sorted by path."""
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
    """A copy of a dataset JSON whose ``train`` split (at every compression level) holds only the
    videos whose full video path is in ``keep``; every other split is unchanged."""
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
    """Write the filtered JSON copies (train datasets) and links (every other JSON) into
    ``json_dir`` and check that the loader reads back exactly ``kept``. Returns ``json_dir``."""
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
    """Write ``text`` atomically unless the file already holds it (keeps mtimes stable, so
    concurrent ranks and re-runs agree on feature-bank fingerprints)."""
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
    """A cross-process lock for writing ``path`` (a ``.<name>.lock`` file beside it), so that
    ``torchrun`` ranks and concurrent studies write each file once."""
    lock = path.with_name(f".{path.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(lock)
