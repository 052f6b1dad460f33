"""Extra test sets: cross-dataset evaluation with ``--extra-test PATH_OR_NAME`` (repeatable).

A spec is a DeepfakeBench dataset name, or a folder of ``real/`` and ``fake/`` face crops
converted once (as ``build-lmdb``: one-frame ``test`` videos, centre 256²) into a locked cache
reused until a file changes. Each set is one more split, evaluated like the test split, with a
``"<detector> on <spec>"`` row and ``extra_tests/<label>/`` folder (docs/imbalance.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from dfshield.engine.splits import Split, SplitProvider
from dfshield.errors import ConfigError, DataError
from dfshield.fileio import write_json_atomic
from dfshield.scoring.media_inputs import printable

logger = logging.getLogger(__name__)

EXTRA_PREFIX = "extra:"
CLASS_FOLDERS = ("real", "fake")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class ExtraTestSet:
    """One extra test set; ``label`` (the spec as given) names it in every output, ``unreadable``
    lists the ``(file, reason)`` left out of a folder."""

    label: str
    dataset: str
    data: Any
    kind: str
    unreadable: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """This set's split name in a :class:`~dfshield.engine.splits.SplitProvider`."""
        return EXTRA_PREFIX + self.label

    @property
    def split(self) -> Split:
        """The ``test`` split of its dataset, read with its data config."""
        return Split(self.data, "test", (self.dataset,))


def safe_label(label: str) -> str:
    """A file-name-safe form of a set's label (``data/my faces`` -> ``data_my_faces``)."""
    return _UNSAFE.sub("_", str(label)).strip("._") or "extra"


def default_cache_dir(cfg: Any) -> Path:
    """Where folders are converted unless told: ``<train.output_dir>/extra_test_cache``."""
    return Path(cfg.train.output_dir) / "extra_test_cache"


def resolve_extra_tests(
    specs: Sequence[str] | None, data: Any, cache_dir: str | os.PathLike, *, progress: bool = False
) -> list[ExtraTestSet]:
    """Turn ``--extra-test`` values into :class:`ExtraTestSet` objects, converting folders once;
    ConfigError for a repeated or empty spec, DataError for a missing or unusable one."""
    sets: list[ExtraTestSet] = []
    seen: set[str] = set()
    for spec in specs or []:
        spec = str(spec).strip()
        if not spec:
            raise ConfigError(
                "--extra-test got an empty value; give a folder with real/ and fake/ "
                "subfolders or a DeepfakeBench dataset name"
            )
        if spec in seen:
            raise ConfigError(
                f"--extra-test {spec!r} is given twice; list each extra test set once"
            )
        seen.add(spec)
        path = Path(spec).expanduser()
        if path.is_dir():
            sets.append(_folder_set(spec, path, data, Path(cache_dir), progress))
        elif path.exists() or _looks_like_path(spec):
            raise DataError(
                f"--extra-test {spec!r}: no such folder (a file or a missing path). Give a "
                f"folder holding real/ and fake/ image subfolders, or a DeepfakeBench "
                f"dataset name from {data.json_dir}"
            )
        else:
            sets.append(_named_set(spec, data))
    return sets


def _looks_like_path(spec: str) -> bool:
    return "/" in spec or "\\" in spec or spec.startswith((".", "~"))


def _named_set(name: str, data: Any) -> ExtraTestSet:
    from dfshield.data.index import read_split

    read_split(
        data.json_dir, name, "test", data.compression, data.label_dict
    )  # fails early, clearly
    return ExtraTestSet(
        label=name, dataset=name, data=dataclasses.replace(data, test_datasets=[name]), kind="name"
    )


def _folder_set(
    label: str, folder: Path, data: Any, cache_dir: Path, progress: bool
) -> ExtraTestSet:
    missing = [name for name in CLASS_FOLDERS if not (folder / name).is_dir()]
    if missing:
        absent = " and no ".join(f"{m}/" for m in missing)
        raise DataError(
            f"--extra-test {label!r}: the folder has no {absent} subfolder; an extra test "
            f"set needs real/ and fake/ image folders (both classes, for AUC), e.g. "
            f"{folder}/real/0001.png and {folder}/fake/0001.png"
        )
    resolved = folder.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    name = f"extra-{safe_label(resolved.name)[:40]}-{digest}"
    stamp = convert_folder(resolved, cache_dir, name, progress=progress)
    converted = dataclasses.replace(
        data,
        json_dir=str((cache_dir / "json").resolve()),
        lmdb_dir=str((cache_dir / "lmdb").resolve()),
        test_datasets=[name],
    )
    unreadable = tuple((str(file), str(reason)) for file, reason in stamp.get("unreadable", []))
    return ExtraTestSet(label, name, converted, "folder", unreadable)


def folder_fingerprint(folder: Path) -> str:
    """A digest of every file under ``real/`` and ``fake/``: relative path, size, mtime."""
    digest = hashlib.sha256()
    for class_name in CLASS_FOLDERS:
        root = folder / class_name
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            stat = path.stat()
            entry = f"{path.relative_to(folder).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
            digest.update(entry.encode())
    return digest.hexdigest()


def convert_folder(folder: Path, cache_dir: Path, name: str, *, progress: bool = False) -> dict:
    """Build ``cache_dir/{json,lmdb}`` for ``name`` unless up to date; returns the stamp."""
    from dfshield.dataset_builder.builder import build_from_images

    cache_dir.mkdir(parents=True, exist_ok=True)
    stamp_path = cache_dir / "stamps" / f"{name}.json"
    fingerprint = folder_fingerprint(folder)
    lock = cache_dir / "stamps" / f".{name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock):
        stamp = _read_json(stamp_path)
        built = (cache_dir / "json" / f"{name}.json").is_file() and (
            cache_dir / "lmdb" / f"{name}_lmdb" / "data.mdb"
        ).is_file()
        if stamp and built and stamp.get("fingerprint") == fingerprint:
            return stamp
        summary = build_from_images(
            folder,
            cache_dir,
            name,
            layout="tree",
            fractions=(0.0, 0.0, 1.0),
            overwrite=True,
            progress=progress,
        )
        counts = summary.videos["test"]
        if min(counts["real"], counts["fake"]) == 0:
            empty = "real" if counts["real"] == 0 else "fake"
            raise DataError(
                f"--extra-test {str(folder)!r}: no usable image in {empty}/ ({counts}); an "
                f"extra test set needs both classes. Images: png, jpg, jpeg, bmp, webp, tif"
            )
        if summary.failed:
            logger.warning(
                "extra test set %s: %d image(s) could not be read, e.g. %s",
                folder,
                len(summary.failed),
                summary.failed[0][0],
            )
        stamp = {
            "source": str(folder),
            "fingerprint": fingerprint,
            "dataset": name,
            "videos": counts,
            "failed": len(summary.failed),
            "unreadable": [[printable(str(file)), reason] for file, reason in summary.failed],
        }
        write_json_atomic(stamp_path, stamp)
        return stamp


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def with_extra_tests(splits: SplitProvider, sets: Sequence[ExtraTestSet]) -> SplitProvider:
    """``splits`` plus one split per extra test set, named by its :attr:`ExtraTestSet.key`."""
    return splits.with_splits({extra.key: extra.split for extra in sets})


def run_extra_tests(
    evaluator, sets: Sequence[ExtraTestSet], out_dir: str | os.PathLike, detector: str
) -> list[dict[str, Any]]:
    """Evaluate every set (in the evaluator's splits) into ``out_dir/extra_tests/<label>/``; one
    ``{"test_set", "metrics", "scores", "labels"}`` per set."""
    results = []
    for extra in sets:
        folder = Path(out_dir) / "extra_tests" / safe_label(extra.label)
        header: dict[str, Any] = {
            "detector": detector,
            "test_set": extra.label,
            "dataset": extra.dataset,
        }
        if extra.unreadable:  # left out of the set: say so beside its metrics
            header["unreadable"] = [list(entry) for entry in extra.unreadable]
        result = evaluator.test(extra.key, folder, header)
        results.append(
            {
                "test_set": extra.label,
                "metrics": result["metrics"],
                "scores": result["scores"],
                "labels": result["labels"],
            }
        )
    return results


def result_rows(detector: str, main_set: str, metrics: dict, extras: Sequence[dict]) -> list[dict]:
    """Rows for ``write_results``: the test split, then ``"<detector> on <set>"`` per extra set."""
    rows = [{"detector": detector, "test_set": main_set, **metrics}]
    rows += [
        {
            "detector": f"{detector} on {extra['test_set']}",
            "test_set": extra["test_set"],
            **extra["metrics"],
        }
        for extra in extras
    ]
    return rows
