"""``dfshield data-info``: check a dataset set-up before anyone trains on it.

Counts videos and frames, resolves and decodes every frame, and checks the JSON for repeated
keys, frames both real and fake and videos in several splits; exit 1 when anything needs fixing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from dfshield.data.frame_stores import open_store
from dfshield.data.index import SPLITS, json_path, read_split, split_name
from dfshield.errors import DataError
from dfshield.media.frames import DEFAULT_MAX_PIXELS, decode_image
from dfshield.progress import progress_bar

_CHUNK = 256
_CLOSEST_FOR = 3  # missing keys for which the closest existing keys are looked up


@dataclass
class LabelCount:
    """Videos and frames of one label string in one split."""

    label_name: str
    label: int
    videos: int = 0
    frames: int = 0


@dataclass
class SplitReport:
    """What one split holds and what is wrong with it (``closest``: keys near the missing)."""

    split: str
    counts: list[LabelCount] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    closest: dict[str, list[str]] = field(default_factory=dict)
    undecodable: list[tuple[str, str]] = field(default_factory=list)
    empty_videos: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def videos(self) -> int:
        return sum(c.videos for c in self.counts)

    @property
    def frames(self) -> int:
        return sum(c.frames for c in self.counts)


@dataclass
class DataInfoReport:
    """The result of :func:`check_dataset`; ``ok`` is False when anything needs fixing."""

    dataset: str
    json_file: str | None = None
    level: str | None = None
    store: str | None = None
    decoded: bool = True
    splits: list[SplitReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return sum(len(s.missing) for s in self.splits)

    @property
    def undecodable(self) -> int:
        return sum(len(s.undecodable) for s in self.splits)

    @property
    def ok(self) -> bool:
        return (
            not self.errors
            and not self.missing
            and not self.undecodable
            and not any(s.error for s in self.splits)
        )

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(ok=self.ok, missing=self.missing, undecodable=self.undecodable)
        return data

    def format(self, max_list: int = 20) -> str:
        """A human-readable report; at most ``max_list`` keys of each problem kind are listed."""
        lines = [f"dataset {self.dataset}"]
        if self.json_file:
            lines.append(
                f"  JSON   {self.json_file}"
                + (f" (compression level {self.level})" if self.level else "")
            )
        if self.store:
            lines.append(f"  frames {self.store}")
        for error in self.errors:
            lines.append(f"  ERROR  {error}")
        rows = [("split", "label", "class", "videos", "frames")]
        for report in self.splits:
            if report.error:
                continue
            for count in report.counts:
                rows.append(
                    (
                        report.split,
                        count.label_name,
                        "fake" if count.label else "real",
                        str(count.videos),
                        str(count.frames),
                    )
                )
            rows.append((report.split, "(total)", "", str(report.videos), str(report.frames)))
        if len(rows) > 1:
            widths = [max(len(r[i]) for r in rows) for i in range(5)]
            lines.append("")
            for row in rows:
                lines.append(
                    "  "
                    + "  ".join(
                        cell.rjust(w) if i >= 3 else cell.ljust(w)
                        for i, (cell, w) in enumerate(zip(row, widths))
                    ).rstrip()
                )
        for report in self.splits:
            if report.error:
                lines.append(f"  ERROR  split {report.split}: {report.error}")
            elif report.videos == 0:
                lines.append(f"  note   split {report.split} is empty")
            if report.empty_videos:
                lines.append(
                    f"  note   split {report.split}: {len(report.empty_videos)} video(s) list "
                    f"no frames, e.g. {report.empty_videos[0]}"
                )
        if self.missing:
            lines.append("")
            lines.append(f"missing: {self.missing} frame key(s) not found")
            listed = 0
            for report in self.splits:
                for key in report.missing:
                    if listed >= max_list:
                        break
                    listed += 1
                    lines.append(f"  {report.split:5s}  {key}")
                    if report.closest.get(key):
                        lines.append(f"         closest existing: {', '.join(report.closest[key])}")
            if self.missing > listed:
                lines.append(f"  ... and {self.missing - listed} more (use --json for all)")
            lines.append(
                "  Every key was tried with '\\' and with '/' separators, so these frames are "
                "absent under any spelling (a separator mismatch, the usual cause, would have been "
                "resolved): the LMDB or frame folder is incomplete, or was built from another "
                "JSON."
            )
        if self.undecodable:
            lines.append("")
            lines.append(f"undecodable: {self.undecodable} frame(s)")
            listed = 0
            for report in self.splits:
                for key, reason in report.undecodable:
                    if listed >= max_list:
                        break
                    listed += 1
                    lines.append(
                        f"  {report.split:5s}  {reason if key in reason else key + ': ' + reason}"
                    )
            if self.undecodable > listed:
                lines.append(f"  ... and {self.undecodable - listed} more (use --json for all)")
        lines.append("")
        if self.ok:
            lines.append("OK" + ("" if self.decoded else " (keys resolved; frames not decoded)"))
        else:
            lines.append(
                f"FAILED: {self.missing} missing, {self.undecodable} undecodable, "
                f"{len(self.errors) + sum(1 for s in self.splits if s.error)} error(s)"
            )
        return "\n".join(lines)


def _decode_reason(data: bytes, key: str, dataset: str, max_pixels: int | None) -> str | None:
    try:
        decode_image(data, key, dataset, max_pixels=max_pixels)
    except DataError as error:
        return str(error)
    return None


def check_dataset(
    dataset: str,
    json_dir: str | os.PathLike,
    lmdb_dir: str | os.PathLike | None = None,
    data_root: str | os.PathLike | None = None,
    *,
    compression: str = "c23",
    label_dict: Mapping[str, int] | None = None,
    splits: Sequence[str] = SPLITS,
    decode: bool = True,
    workers: int | None = None,
    progress: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> DataInfoReport:
    """Count and verify every frame of ``dataset`` (on disk when ``lmdb_dir`` is None); never raises
    for data problems."""
    report = DataInfoReport(dataset=dataset, decoded=decode)
    try:
        report.json_file = str(json_path(json_dir, dataset))
    except DataError as error:
        report.errors.append(str(error))
        return report
    report.level = split_name(dataset)[1] or compression
    cfg = argparse.Namespace(
        lmdb_dir=str(lmdb_dir) if lmdb_dir else None,
        data_root=str(data_root) if data_root else None,
    )
    try:
        store = open_store(dataset, cfg)
        report.store = store.describe()
    except DataError as error:
        report.errors.append(str(error))
        store = None
    bar = None
    if progress:
        bar = progress_bar(unit="frame", desc=f"data-info {dataset}", file=sys.stderr)
    workers = workers or min(8, os.cpu_count() or 1)
    read: dict[str, list] = {}  # the records of every split that could be read
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for split in splits:
            split_report = SplitReport(split=split)
            report.splits.append(split_report)
            try:
                records = read_split(
                    json_dir, dataset, split, compression, label_dict, allow_empty=True
                )
            except DataError as error:
                split_report.error = str(error)
                continue
            counts: dict[str, LabelCount] = {}
            for record in records:
                count = counts.setdefault(
                    record.label_name, LabelCount(record.label_name, record.label)
                )
                count.videos += 1
                count.frames += len(record.frames)
                if not record.frames:
                    split_report.empty_videos.append(record.video_path)
            split_report.counts = [counts[name] for name in sorted(counts)]
            read[split] = records
            if store is not None:
                keys = [(key, record.dataset) for record in records for key in record.frames]
                _check_keys(store, keys, split_report, decode, max_pixels, pool, bar)
    if bar is not None:
        bar.close()
    report.errors += _duplicate_keys(report.json_file or "") + _conflicts(read)
    if read and not any(read.values()) and not report.errors:
        report.errors.append(
            f"every split read ({', '.join(read)}) is empty: the JSON lists no videos under "
            f"'{split_name(dataset)[0]}' (check its top-level key and label groups)"
        )
    return report


def _duplicate_keys(json_file: str) -> list[str]:
    """Keys written twice in one JSON object (``json`` keeps the last, silently dropping others)."""
    found: list[tuple[int, list[str]]] = []  # (object number, its repeated keys)
    objects = 0  # objects are completed inner first: the top level is the last

    def counted(items: list[tuple[str, Any]]) -> dict:
        nonlocal objects
        objects += 1
        names = Counter(name for name, _ in items)
        repeated = sorted(name for name, count in names.items() if count > 1)
        if repeated:
            found.append((objects, repeated))
        return dict(items)

    try:
        with open(json_file, encoding="utf-8") as handle:
            json.load(handle, object_pairs_hook=counted)
    except (OSError, ValueError):  # unreadable: every split already says why
        return []
    return [
        f"{json_file}: key(s) {', '.join(map(repr, names))} written more than once "
        f"{'at the top level' if number == objects else 'in one object'}; JSON keeps only the "
        "last, so everything under the others is lost. Merge them into one key"
        for number, names in found
    ]


def _conflicts(read: Mapping[str, list]) -> list[str]:
    """Frames labelled both real and fake, and videos in more than one split."""
    labels: dict[str, set[int]] = {}
    splits_of: dict[str, set[str]] = {}
    for split, records in read.items():
        for record in records:
            splits_of.setdefault(record.video_path, set()).add(split)
            for key in record.frames:
                labels.setdefault(key, set()).add(record.label)
    errors = []
    both = [key for key, found in labels.items() if len(found) > 1]
    if both:
        errors.append(
            f"{len(both)} frame(s) are labelled both real and fake, e.g. {both[0]}: fix their "
            "labels in the JSON (or data.label_dict / --label)"
        )
    shared = sorted(video for video, found in splits_of.items() if len(found) > 1)
    if shared:
        where = ", ".join(sorted(splits_of[shared[0]]))
        errors.append(
            f"{len(shared)} video(s) are in more than one split, e.g. {shared[0]} ({where}): "
            "a video seen in training must not be tested on; keep each video in one split"
        )
    return errors


def _check_keys(
    store: Any,
    keys: list[tuple[str, str]],
    report: SplitReport,
    decode: bool,
    max_pixels: int | None,
    pool: ThreadPoolExecutor,
    bar: Any,
) -> None:
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        pending = []
        for key, dataset in chunk:
            data = store.get_optional(key)
            if data is None:
                report.missing.append(key)
                if len(report.closest) < _CLOSEST_FOR:
                    report.closest[key] = store.closest_keys(key)
            elif decode:
                pending.append((key, pool.submit(_decode_reason, data, key, dataset, max_pixels)))
        for key, future in pending:
            reason = future.result()
            if reason is not None:
                report.undecodable.append((key, reason))
        if bar is not None:
            bar.update(len(chunk))
