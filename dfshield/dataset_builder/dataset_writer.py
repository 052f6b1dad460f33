"""``DatasetWriter``: frames into a staged LMDB, then JSON, splits and ``deepfakebench.yaml``."""

from __future__ import annotations

import json
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmdb
import numpy as np

from dfshield._suggest import did_you_mean
from dfshield.dataset_builder.build_summary import BuildSummary
from dfshield.dataset_builder.deepfakebench_yaml import write_deepfakebench_yaml
from dfshield.dataset_builder.frame_encoding import encode_png
from dfshield.dataset_builder.layout import (
    LABELS,
    SPLITS,
    check_dataset_name,
    frame_key,
    label_dict_for,
    normalize_label,
    safe_video_name,
)
from dfshield.dataset_builder.split_allocation import DEFAULT_FRACTIONS, split_videos
from dfshield.dataset_builder.staging import Staging
from dfshield.errors import ConfigError, DataError
from dfshield.fileio import write_text_atomic

Frame = tuple[int, Any]  # (original frame index, RGB uint8 array or ready PNG bytes)


@dataclass
class _VideoRecord:
    label: str
    keys: list[str]
    split: str | None
    group: Hashable | None


class DatasetWriter:
    """Write videos of frames into ``<out>/lmdb/<Name>_lmdb`` and, on :meth:`close`, the JSON index.

    Usage::

        with DatasetWriter(out_dir, "MyFaces") as writer:
            writer.add_video("clip01", "real", [(0, rgb0), (16, rgb16)])
        summary = writer.summary

    Videos without ``split=`` are split at :meth:`close`; an existing dataset needs ``overwrite``;
    an exception in the block discards the build.
    """

    def __init__(
        self, out_dir: str | Path, name: str, *, overwrite: bool = False, map_size: int = 1 << 28
    ) -> None:
        self.name = check_dataset_name(name)
        self.out_dir = Path(out_dir)
        self.json_path = self.out_dir / "json" / f"{self.name}.json"
        self.lmdb_path = self.out_dir / "lmdb" / f"{self.name}_lmdb"
        self._staging = Staging(self.json_path, self.lmdb_path)
        self._staging.begin(overwrite)  # folders, lock, leftovers, the existing dataset
        self._map_size = int(map_size)
        try:
            self._env: lmdb.Environment | None = lmdb.open(
                str(self._staging.staged_lmdb),
                map_size=self._map_size,
                subdir=True,
                metasync=False,
                sync=False,
            )
        except lmdb.Error as error:
            self._staging.discard()
            raise self._write_error(error) from error
        self._videos: dict[tuple[str, str], _VideoRecord] = {}
        self._frames = {lab: 0 for lab in LABELS}
        self.bytes_written = 0
        self.summary: BuildSummary | None = None
        self._start = time.perf_counter()

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if self.summary is None:
                self.close()
        else:
            self.abort()

    # -- writing ---------------------------------------------------------------------------------
    @property
    def video_count(self) -> int:
        return len(self._videos)

    def add_video(
        self,
        video: str,
        label: Any,
        frames: Iterable[Frame],
        *,
        split: str | None = None,
        group: Hashable | None = None,
    ) -> int:
        """Store one video's ``[(index, rgb_or_png), ...]``; the count stored (0: not recorded).
        ``video`` must be a :func:`safe_video_name`, unique within its label."""
        if self._env is None:
            raise DataError("DatasetWriter is closed; create a new one to write more videos.")
        lab = normalize_label(label)
        if safe_video_name(video) != video:
            raise DataError(
                f"Video name {video!r} has unsafe characters; use {safe_video_name(video)!r}."
            )
        if (lab, video) in self._videos:
            raise DataError(
                f"Video {video!r} ({lab}) was added twice; video names must be unique within a "
                "label."
            )
        if split is not None and split not in SPLITS:
            raise ConfigError(
                f"Unknown split {split!r}; use one of {', '.join(SPLITS)}."
                + did_you_mean(split, SPLITS)
            )
        items: dict[str, bytes | bytearray] = {}
        for index, image in frames:
            key = frame_key(self.name, lab, video, int(index))
            if key in items:
                raise DataError(f"Frame {index} of video {video!r} was given twice.")
            items[key] = (
                image if isinstance(image, (bytes, bytearray)) else encode_png(np.asarray(image))
            )
        if not items:
            return 0
        self._put(items)
        keys = sorted(items, key=lambda k: int(k.rsplit("\\", 1)[1].split(".")[0]))
        self._videos[(lab, video)] = _VideoRecord(lab, keys, split, group)
        self._frames[lab] += len(keys)
        return len(keys)

    def _put(self, items: Mapping[str, bytes | bytearray]) -> None:
        assert self._env is not None
        size = sum(len(v) for v in items.values())
        while True:
            try:
                with self._env.begin(write=True) as txn:
                    for key, value in items.items():
                        txn.put(key.encode("utf-8"), bytes(value))
                break
            except lmdb.MapFullError:
                self._map_size = max(self._map_size * 2, self._map_size + 4 * size)
                self._env.set_mapsize(self._map_size)
            except (lmdb.Error, OSError) as error:
                raise self._write_error(error) from error
        self.bytes_written += size

    # -- finishing -------------------------------------------------------------------------------
    def assign_splits(
        self, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
    ) -> dict[tuple[str, str], str]:
        """``{(label, video): split}`` of every stored video (given ones kept, others assigned)."""
        free = [k for k, r in self._videos.items() if r.split is None]
        assigned = {k: r.split for k, r in self._videos.items() if r.split is not None}
        if free:
            groups = [self._videos[k].group for k in free]
            assigned.update(
                split_videos(
                    free,
                    [k[0] for k in free],
                    fractions,
                    seed,
                    groups=None if all(g is None for g in groups) else groups,
                )
            )
        return assigned

    def close(self, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> BuildSummary:
        """Assign splits, write the JSON, swap the dataset in; returns (and keeps) the summary."""
        if self.summary is not None:
            return self.summary
        if self._env is None:
            raise DataError("DatasetWriter was aborted; nothing to close.")
        splits = self.assign_splits(fractions, seed)
        index: dict[str, dict[str, dict[str, Any]]] = {
            f"{self.name}_{lab}": {s: {} for s in SPLITS} for lab in LABELS
        }
        summary = BuildSummary(
            self.name,
            str(self.out_dir),
            str(self.json_path),
            str(self.lmdb_path),
            label_dict_for(self.name),
        )
        for lab, video in sorted(self._videos):
            record = self._videos[(lab, video)]
            split = splits[(lab, video)]
            group = f"{self.name}_{lab}"
            index[group][split][video] = {"label": group, "frames": list(record.keys)}
            summary.videos[split][lab] += 1
            summary.frames[split][lab] += len(record.keys)
        try:
            self._env.sync(True)
            self._env.close()
            self._env = None
            # the staged JSON marks the build complete; the commit swaps both in
            write_text_atomic(self._staging.staged_json, json.dumps({self.name: index}, indent=1))
        except (lmdb.Error, OSError) as error:
            self.abort()
            raise self._write_error(error) from error
        self._staging.commit()
        summary.deepfakebench_yaml = str(write_deepfakebench_yaml(self.out_dir, self.name))
        summary.bytes_written = self.bytes_written
        summary.seconds = time.perf_counter() - self._start
        self.summary = summary
        return summary

    def abort(self) -> None:
        """Stop without writing anything; a previous dataset of that name stays as it was."""
        if self._env is not None:
            self._env.close()
            self._env = None
        self._staging.discard()

    def _write_error(self, error: Exception) -> DataError:
        return DataError(
            f"Writing dataset {self.name} into {self.out_dir} failed: {error}. The disk may be "
            "full or the folder not writable: free space or choose another output folder (a "
            "previous dataset of that name is untouched)."
        )
