"""Prepare a planned ``reproduce`` run's data: filtered JSON copies (docs/reproduce.md, step 3),
under ``<train.output_dir>/reproduce/data/<digest>/json`` so tables on the same data share banks.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dfshield.errors import DataError
from dfshield.studies.reproduce_plan import Split

__all__ = ["prepare_splits"]


def prepare_splits(split: Split) -> tuple[list[str], list[str]]:
    """Write and read back one split's JSON copies; (training datasets kept, notes)."""
    work = _Preparation(split)
    training = [name for name in split.train if work.training(name)]
    for name in split.test:
        work.testing(name)
    work.write()
    return training, work.notes


class _Preparation:
    """One :class:`Split`'s JSON copies in preparation, their planned class counts and notes."""

    def __init__(self, split: Split):
        self.split, self.data = split, split.data
        self.infos: dict[Path, dict] = {}
        self.expected: dict[tuple[str, str], dict[str, int]] = {}
        self.notes: list[str] = []

    def info(self, name: str) -> dict:
        """The (mutable) JSON content of dataset ``name``, read once."""
        from dfshield.data.index import json_path

        path = json_path(self.data.json_dir, name)
        if path not in self.infos:
            self.infos[path] = json.loads(path.read_text(encoding="utf-8"))
        return self.infos[path]

    def read(self, name: str, which: str) -> list:
        from dfshield.data.index import read_split

        data = self.data
        return read_split(
            data.json_dir, name, which, data.compression, data.label_dict, allow_empty=True
        )

    def training(self, name: str) -> bool:
        """Train and val of ``name`` minus test videos (and subset); False if none is left."""
        from dfshield.studies.subsample import class_counts

        subset, info = self.split.subset, self.info(name)
        tests = {r.video_path for r in self.read(name, "test")}
        listed = self.read(name, "train")
        train = [r for r in listed if r.video_path not in tests]
        if len(train) < len(listed):
            self.notes.append(
                f"{name}: {len(listed) - len(train)} training videos are test videos too; "
                f"removed from train"
            )
        if subset is not None:
            train = _pick(train, subset.train, self.split.seed, f"the training split of {name}")
        paths = {r.video_path for r in train}
        _keep(info, "train", paths)
        if not train:
            self.notes.append(f"{name}: no training videos left; used for testing only")
            return False
        val = [] if subset else self.read(name, "val")
        val = [r for r in val if r.video_path not in tests | paths]
        fraction = self.data.val_fraction
        if val:
            _keep(info, "val", {r.video_path for r in val})
        elif fraction > 0:
            val = _held_out(train, fraction, self.split.seed)
            held = {r.video_path for r in val}
            train = [r for r in train if r.video_path not in held]
            _copy_split(info, "train", "val")
            _keep(info, "val", held)
            _keep(info, "train", paths - held)
            counts = class_counts(val)
            self.notes.append(
                f"{name}: validates on {counts['real']} real and {counts['fake']} fake training "
                f"videos held out from training (data.val_fraction {fraction:g}; no validation "
                f"videos apart from its test or training videos{', or a subset' if subset else ''})"
            )
        else:
            _copy_split(info, "train", "val")
            val = train
            self.notes.append(f"{name}: selects on its training split (data.val_fraction 0)")
        self.expected[(name, "train")] = class_counts(train)
        self.expected[(name, "val")] = class_counts(val)
        return True

    def testing(self, name: str) -> None:
        """The test split of ``name``: the subset, or another compression level."""
        from dfshield.studies.subsample import class_counts

        split, info = self.split, self.info(name)  # every JSON read is copied, changed or not
        if split.subset is not None:
            test = _pick(
                self.read(name, "test"), split.subset.test, split.seed, f"the test split of {name}"
            )
            _keep(info, "test", {r.video_path for r in test})
            self.expected[(name, "test")] = class_counts(test)
        if split.level is not None:
            _test_level(info, name, split.level, self.data.compression)
            self.notes.append(f"{name}: tested on its {split.level} test videos")

    def write(self) -> None:
        """Write the copies (unchanged files keep their mtimes: banks stay valid) and check them."""
        from dfshield.studies.subsample import write_if_changed

        out = self.split.json_dir
        out.mkdir(parents=True, exist_ok=True)
        for path, content in self.infos.items():
            write_if_changed(out / path.name, json.dumps(content))
        _check_counts(dataclasses.replace(self.data, json_dir=str(out)), self.expected)
        if self.split.subset is not None:
            self.notes += [
                f"{name} {which}: {counts['real']} real and {counts['fake']} fake videos"
                for (name, which), counts in self.expected.items()
                if which != "val"
            ]


def _pick(records: list, counts: tuple[int, int], seed: int, where: str) -> list:
    """Exactly ``counts`` = (real, fake) videos of ``records``, chosen by video, seeded."""
    from dfshield.studies.subsample import class_counts, select_videos

    real, fake = counts
    have = class_counts(records)
    if have["real"] < real or have["fake"] < fake:
        raise DataError(
            f"{where} has {have['real']} real and {have['fake']} fake videos; the subset needs "
            f"{real} real and {fake} fake (DDLN's Table 1). Check the dataset with dfshield "
            f"data-info and that its JSON is DeepfakeBench's full one"
        )
    return select_videos(select_videos(records, "real", real, seed), "fake", fake, seed)


def _held_out(records: list, fraction: float, seed: int) -> list:
    """About ``fraction`` of each class's videos, seeded; 2+ videos keep one on each side."""
    from dfshield.studies.subsample import class_counts, select_videos

    counts = class_counts(records)
    held = {
        label: min(max(1, round(fraction * n)), n - 1) if n >= 2 else 0
        for label, n in counts.items()
    }
    return select_videos(
        select_videos(records, "real", held["real"], seed), "fake", held["fake"], seed
    )


def _groups(info: dict):
    """Every ``splits`` mapping (``{train: …, val: …, test: …}``) of a dataset JSON."""
    for groups in info.values():
        if isinstance(groups, dict):
            for splits in groups.values():
                if isinstance(splits, dict):
                    yield splits


def _keep(info: dict, which: str, keep: set[str]) -> None:
    """Keep in split ``which`` only the videos in ``keep``, at every level (in place)."""
    from dfshield.studies.subsample import filter_train_split

    if which != "train":
        _swap(info, which)
    filtered = filter_train_split(info, keep)
    info.clear()
    info.update(filtered)
    if which != "train":
        _swap(info, which)


def _swap(info: dict, which: str) -> None:
    for splits in _groups(info):
        train, other = splits.pop("train", None), splits.pop(which, None)
        splits.update({k: v for k, v in (("train", other), (which, train)) if v is not None})


def _copy_split(info: dict, source: str, target: str) -> None:
    for splits in _groups(info):
        splits[target] = copy.deepcopy(splits.get(source, {}))


def _test_level(info: dict, name: str, level: str, protocol_level: str) -> None:
    """Put the ``level`` test videos where the protocol's level is read (FF-family JSONs)."""
    from dfshield.data.index import COMPRESSION_LEVELS

    for splits in _groups(info):
        node = splits.get("test")
        if not isinstance(node, dict) or not node:
            continue
        if not set(node) <= set(COMPRESSION_LEVELS) or level not in node:
            raise DataError(
                f"the test split of {name} has no compression level '{level}' (keys: "
                f"{', '.join(sorted(node)[:5])}); a test at another level needs a "
                f"FaceForensics++-family JSON listing that level"
            )
        node[protocol_level] = node[level]


def _check_counts(data: Any, expected: Mapping[tuple[str, str], Mapping[str, int]]) -> None:
    from dfshield.data.index import read_split
    from dfshield.studies.subsample import class_counts

    for (name, which), counts in expected.items():
        got = class_counts(
            read_split(data.json_dir, name, which, data.compression, data.label_dict)
        )
        if got != dict(counts):
            raise DataError(
                f"the prepared {which} split of {name} in {data.json_dir} reads back {got} "
                f"videos, expected {dict(counts)}; please report this with the dataset JSONs"
            )
