"""DeepfakeBench dataset JSONs read into per-video records, sorted by path (never shuffled).

Mirrors ``abstract_dataset.py``: levels (``c23``/``c40``/``raw``) are recognised by their keys, a
``_c40`` name reads its base at ``c40``, and an unknown label string is an error.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dfshield._suggest import did_you_mean
from dfshield.errors import DataError
from dfshield.media.frames import sort_frames

#: DeepfakeBench's ``label_dict`` (``training/config/train_config.yaml``): 0 real, 1 fake.
DEFAULT_LABEL_DICT: dict[str, int] = {
    "DFD_fake": 1,
    "DFD_real": 0,
    "FF-SH": 1,
    "FF-F2F": 1,
    "FF-DF": 1,
    "FF-FS": 1,
    "FF-NT": 1,
    "FF-FH": 1,
    "FF-real": 0,
    "CelebDFv1_real": 0,
    "CelebDFv1_fake": 1,
    "CelebDFv2_real": 0,
    "CelebDFv2_fake": 1,
    "DFDCP_Real": 0,
    "DFDCP_FakeA": 1,
    "DFDCP_FakeB": 1,
    "DFDC_Fake": 1,
    "DFDC_Real": 0,
    "DF_fake": 1,
    "DF_real": 0,
    "UADFV_Fake": 1,
    "UADFV_Real": 0,
    "roop_Real": 0,
    "roop_Fake": 1,
}

#: Datasets whose JSON has a compression level and which share ``FaceForensics++_lmdb``.
FF_FAMILY: tuple[str, ...] = (
    "FaceForensics++",
    "FF-DF",
    "FF-F2F",
    "FF-FS",
    "FF-NT",
    "DeepFakeDetection",
    "FaceShifter",
)

COMPRESSION_LEVELS: tuple[str, ...] = ("c23", "c40", "raw")
SPLITS: tuple[str, ...] = ("train", "val", "test")
_C40_SUFFIX = "_c40"
_DATASETS_PREFIX = re.compile(r"^\.[\\/]+datasets[\\/]+")
_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:)?[\\/]")  # /data/..., \\server\..., C:\..., C:/...


@dataclass(frozen=True)
class VideoRecord:
    """One video of one split; ``video_path`` (its ``/``-separated frame folder) is its unique id.

    ``frames`` are the JSON's paths as written (the LMDB keys), sorted by integer stem.
    """

    dataset: str
    label: int
    label_name: str
    video_path: str
    frames: tuple[str, ...]
    video_name: str = ""


def split_name(dataset: str) -> tuple[str, str | None]:
    """``(base name, forced level)``: ``FF-DF_c40`` -> ``("FF-DF", "c40")``; others unchanged."""
    if dataset.endswith(_C40_SUFFIX) and dataset[: -len(_C40_SUFFIX)] in FF_FAMILY:
        return dataset[: -len(_C40_SUFFIX)], "c40"
    return dataset, None


def lmdb_name(dataset: str) -> str:
    """The LMDB a dataset lives in, without ``_lmdb``: FF-family names share ``FaceForensics++``."""
    base, _ = split_name(dataset)
    return "FaceForensics++" if base in FF_FAMILY else base


def normalize_path(path: str) -> str:
    """A frame path with ``/`` separators and without DeepfakeBench's ``./datasets/`` prefix."""
    path = _DATASETS_PREFIX.sub("", str(path))
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def dataset_relative_paths(path: str, folder: str) -> list[str]:
    """An absolute frame path from each component named ``folder`` on (last first), else ``[]``:
    ``rearrange.py`` writes ``/data/Celeb-DF-v2/...``, LMDB keys read ``Celeb-DF-v2/...``."""
    if not _ABSOLUTE.match(str(path)):
        return []
    parts = [p for p in re.split(r"[\\/]+", str(path)) if p]
    return ["/".join(parts[i:]) for i in range(len(parts) - 1, -1, -1) if parts[i] == folder]


def video_path_of(frame_path: str) -> str:
    """The normalised folder of a frame path (``a\\b\\001\\000.png`` -> ``a/b/001``)."""
    return str(PurePosixPath(normalize_path(frame_path)).parent)


def json_path(json_dir: str | os.PathLike, dataset: str) -> Path:
    """The JSON file of a dataset; a missing file is a DataError listing the JSONs present."""
    folder = Path(json_dir)
    if not folder.is_dir():
        raise DataError(
            f"dataset JSON folder {str(folder)!r} does not exist (needed for dataset "
            f"'{dataset}'); set data.json_dir (or --json-dir) to the folder holding "
            f"DeepfakeBench's <Dataset>.json files"
        )
    candidates = [folder / f"{dataset}.json"]
    base, level = split_name(dataset)
    if level is not None:
        candidates.append(folder / f"{base}.json")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    present = sorted(p.stem for p in folder.glob("*.json"))
    raise DataError(
        f"no JSON for dataset '{dataset}' in {str(folder)!r} (looked for "
        f"{', '.join(c.name for c in candidates)}).{did_you_mean(dataset, present)} "
        f"JSONs present: {', '.join(present) or 'none'}"
    )


@functools.lru_cache(maxsize=8)
def _load_json_cached(path: str, mtime_ns: int, size: int) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise DataError(f"dataset JSON {path!r} is not valid JSON: {error}") from error
    except UnicodeDecodeError as error:
        raise DataError(
            f"dataset JSON {path!r} is not UTF-8 text (byte {error.start}: {error.reason}); JSON "
            "must be UTF-8. Convert it, e.g. iconv -f latin1 -t utf-8 in.json > out.json"
        ) from error


def load_dataset_info(json_dir: str | os.PathLike, dataset: str) -> dict:
    """The ``label group -> split -> ...`` mapping of a dataset (cached; do not mutate)."""
    path = json_path(json_dir, dataset)
    stat = path.stat()
    data = _load_json_cached(str(path), stat.st_mtime_ns, stat.st_size)
    base, _ = split_name(dataset)
    if not isinstance(data, dict):
        raise DataError(f"dataset JSON {str(path)!r} must hold a mapping {{'{base}': {{...}}}}")
    for key in (base, dataset):
        if key in data:
            info = data[key]
            if not isinstance(info, dict):
                raise DataError(f"'{key}' in {str(path)!r} must map label groups to splits")
            return info
    raise DataError(
        f"dataset JSON {str(path)!r} has no top-level key '{base}'."
        f"{did_you_mean(base, map(str, data))} "
        f"Top-level keys: {', '.join(map(str, data)) or 'none'}"
    )


def is_level_mapping(node: Any) -> bool:
    """True for a ``{c23: {...}, c40: {...}}`` level of an FF-family JSON split."""
    return (
        isinstance(node, dict)
        and bool(node)
        and all(k in COMPRESSION_LEVELS for k in node)
        and all(isinstance(v, dict) for v in node.values())
    )


def _videos_of(node: Any, dataset: str, group: str, split: str, level: str, forced: bool) -> dict:
    """The ``video -> info`` mapping of one label group and split, choosing the level if nested."""
    if not node:
        return {}
    if not isinstance(node, dict):
        raise DataError(
            f"dataset '{dataset}': label group '{group}', split '{split}' must be a "
            f"mapping of videos (or of compression levels), got {type(node).__name__}"
        )
    if is_level_mapping(node):
        if level not in node:
            raise DataError(
                f"dataset '{dataset}': label group '{group}', split '{split}' has no "
                f"compression level '{level}' (levels present: {', '.join(sorted(node))}); "
                f"set data.compression to one of them"
            )
        return node[level]
    if forced:
        raise DataError(
            f"dataset '{dataset}' asks for level '{level}' (the '_c40' suffix) but its "
            f"JSON has no compression level under label group '{group}', split '{split}'; "
            f"use the name without '_c40'"
        )
    return node


def own_label_dict(dataset: str) -> dict[str, int]:
    """``{dataset}_real`` → 0, ``{dataset}_fake`` → 1: the labels ``build-lmdb`` writes."""
    return {f"{dataset}_real": 0, f"{dataset}_fake": 1}


def read_split(
    json_dir: str | os.PathLike,
    dataset: str,
    split: str,
    compression: str = "c23",
    label_dict: Mapping[str, int] | None = None,
    *,
    allow_empty: bool = False,
) -> list[VideoRecord]:
    """The videos of one split of one dataset, sorted by video path.

    Raises DataError for an unreadable JSON, unknown label, missing level, bad entry or (unless
    ``allow_empty``) an empty split.
    """
    if split not in SPLITS:
        raise DataError(
            f"unknown split {split!r}; use one of {', '.join(SPLITS)}."
            f"{did_you_mean(str(split), SPLITS)}"
        )
    labels = {**DEFAULT_LABEL_DICT, **own_label_dict(dataset), **(label_dict or {})}
    info = load_dataset_info(json_dir, dataset)
    _, forced_level = split_name(dataset)
    level = forced_level or compression
    records: list[VideoRecord] = []
    splits_present: set[str] = set()
    for group, group_info in info.items():
        if not isinstance(group_info, dict):
            raise DataError(f"dataset '{dataset}': label group '{group}' must map splits to videos")
        splits_present.update(k for k, v in group_info.items() if v)
        videos = _videos_of(
            group_info.get(split), dataset, group, split, level, forced_level is not None
        )
        for video_name, video in videos.items():
            if not isinstance(video, dict) or not isinstance(video.get("frames", []), list):
                raise DataError(
                    f"dataset '{dataset}': video '{video_name}' (label group '{group}', "
                    f"split '{split}') must be a mapping with 'label' and a 'frames' list"
                )
            label_name = video.get("label", group)
            if label_name not in labels:
                raise DataError(
                    f"dataset '{dataset}': label string '{label_name}' of video '{video_name}' "
                    f"(label group '{group}', split '{split}') is not in the label dictionary."
                    f"{did_you_mean(str(label_name), labels)} Add it to data.label_dict, e.g. "
                    f"label_dict: {{'{label_name}': 1}} (1 fake, 0 real)"
                )
            frames = tuple(sort_frames(str(f) for f in video.get("frames", [])))
            video_path = (
                video_path_of(frames[0])
                if frames
                else normalize_path(f"{dataset}/{group}/{video_name}")
            )
            records.append(
                VideoRecord(
                    dataset=dataset,
                    label=int(labels[label_name]),
                    label_name=str(label_name),
                    video_path=video_path,
                    frames=frames,
                    video_name=str(video_name),
                )
            )
    if not records and not allow_empty:
        present = [s for s in SPLITS if s in splits_present]
        hint = (
            " Validation reads the 'val' split of the train datasets; pick train datasets "
            "that have one."
            if split == "val"
            else ""
        )
        raise DataError(
            f"split '{split}' of dataset '{dataset}' is empty"
            f"{' at level ' + repr(level) if forced_level or _has_levels(info) else ''} "
            f"(splits with videos: {', '.join(present) or 'none'}).{hint}"
        )
    records.sort(key=lambda r: (r.video_path, r.label_name, r.video_name))
    return records


def _has_levels(info: dict) -> bool:
    return any(
        is_level_mapping(s) for g in info.values() if isinstance(g, dict) for s in g.values()
    )


def available_splits(json_dir: str | os.PathLike, dataset: str) -> list[str]:
    """Splits for which the dataset's JSON lists at least one entry."""
    info = load_dataset_info(json_dir, dataset)
    present = {k for g in info.values() if isinstance(g, dict) for k, v in g.items() if v}
    return [s for s in SPLITS if s in present]
