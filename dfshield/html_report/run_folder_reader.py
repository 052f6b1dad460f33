"""Read whatever a run folder holds, for the HTML report: a run still training or a folder from
an older version lacks pieces, listed in :attr:`RunFolderContents.missing` and never raised."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dfshield.errors import DataError
from dfshield.eval.results import number

#: folders inside a run folder that never hold a detector run
SKIPPED_FOLDERS = {"checkpoints", "data", "feature_cache", "extra_tests", "tensorboard", "json"}
#: a detector run is a folder holding one of these
RUN_FILES = ("config.json", "log.csv", "test_scores.csv", "test_metrics.json")
#: how deep below the run folder detector runs are looked for (reproduce: section/test/seed/run)
MAX_DEPTH = 4
#: at most this many comparison folders are read (imbalance and reproduce have many)
MAX_GROUPS = 12


@dataclass
class TestScores:
    """The scores of one test set of a detector run (``test_scores.csv``) and its metrics."""

    name: str
    labels: np.ndarray
    scores: np.ndarray
    threshold: float
    metrics: dict[str, Any] | None


@dataclass
class DetectorRun:
    """One detector's run folder: config, training log and test scores, each possibly absent."""

    name: str
    path: Path
    config: dict[str, Any] | None
    log: list[dict[str, float | None]]
    tests: list[TestScores]
    state: str  # "tested", "training" (a log, no test scores yet) or "incomplete"

    @property
    def train_set(self) -> str:
        return ", ".join(_datasets(self.config, "train_datasets")) or "—"

    @property
    def wall_seconds(self) -> float | None:
        seconds = [s for row in self.log if (s := row.get("seconds")) is not None]
        return float(sum(seconds)) if seconds else None


@dataclass
class Group:
    """A folder of detector runs compared under one protocol (``results.json`` beside them)."""

    title: str
    path: Path
    results: dict[str, Any] | None
    runs: list[DetectorRun]


@dataclass
class RunFolderContents:
    """Everything the report shows of one run folder."""

    path: Path
    kind: str  # train, test, compare, demo, imbalance, reproduce, robustness or unknown
    groups: list[Group]
    imbalance: dict[str, Any] | None = None
    reproduce: dict[str, Any] | None = None
    robustness: dict[str, Any] | None = None
    protocol: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    banks: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.kind}: {self.path.name}"

    @property
    def runs(self) -> list[DetectorRun]:
        return [run for group in self.groups for run in group.runs]

    @property
    def results(self) -> dict[str, Any] | None:
        """``results.json`` of the folder itself, or of its only comparison."""
        top = [g for g in self.groups if g.path == self.path and g.results]
        if top:
            return top[0].results
        with_results = [g for g in self.groups if g.results]
        return with_results[0].results if len(with_results) == 1 else None


def read_json(path: Path, missing: list[str] | None = None) -> Any:
    """A JSON file's content, or None when it is absent or unreadable (noted in ``missing``)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        if missing is not None:
            missing.append(f"{path.name} in {path.parent} cannot be read ({error})")
        return None


def read_log(path: Path) -> list[dict[str, float | None]]:
    """``log.csv`` as one dict of floats per epoch ([] when absent or unreadable)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return [
                {k: number(v, finite=True) for k, v in row.items() if k}
                for row in csv.DictReader(handle)
            ]
    except (OSError, csv.Error, UnicodeDecodeError):
        return []


def read_scores(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """``(labels, P(fake))`` of a ``test_scores.csv``, or None when absent or unreadable."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [(int(r["label"]), float(r["prob_fake"])) for r in csv.DictReader(handle)]
    except (OSError, csv.Error, KeyError, ValueError, TypeError, UnicodeDecodeError):
        return None
    if not rows:
        return None
    labels, scores = zip(*rows)
    return np.asarray(labels, dtype=np.int64), np.asarray(scores, dtype=np.float64)


def _datasets(config: dict[str, Any] | None, key: str) -> list[str]:
    data = (config or {}).get("data") or {}
    value = data.get(key) or []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _test_scores(folder: Path, name: str, missing: list[str]) -> TestScores | None:
    read = read_scores(folder / "test_scores.csv")
    if read is None:
        return None
    metrics = read_json(folder / "test_metrics.json", missing)
    threshold = (metrics or {}).get("threshold")
    threshold = float(threshold) if isinstance(threshold, (int, float)) else 0.5
    return TestScores(name, read[0], read[1], threshold, metrics)


def read_detector_run(folder: Path, name: str, missing: list[str]) -> DetectorRun:
    """One detector run; its main test set first, then each ``extra_tests/<set>/``."""
    config = read_json(folder / "config.json", missing)
    log = read_log(folder / "log.csv")
    tests = []
    test_datasets = ", ".join(_datasets(config, "test_datasets"))
    main_name = f"{test_datasets} test" if test_datasets else "test split"
    main = _test_scores(folder, main_name, missing)
    if main is not None:
        tests.append(main)
    extra_root = folder / "extra_tests"
    if extra_root.is_dir():
        for extra in sorted(p for p in extra_root.iterdir() if p.is_dir()):
            scores = _test_scores(extra, extra.name, missing)
            if scores is not None:
                tests.append(scores)
    state = "tested" if tests else ("training" if log else "incomplete")
    if not tests:
        where = f"{name} ({folder})"
        what = "still training or stopped before testing" if log else "has no log and no scores"
        missing.append(f"{where}: no test scores yet: {what}")
    if config is None:
        missing.append(f"{name}: config.json is missing (the run had not saved a checkpoint yet)")
    return DetectorRun(name, folder, config, log, tests, state)


def _is_run(folder: Path) -> bool:
    return any((folder / name).is_file() for name in RUN_FILES)


def _run_folders(root: Path) -> list[Path]:
    """Folders holding a detector run below ``root``, in path order; only the first ``seed-*``."""
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        if _is_run(folder):
            found.append(folder)
        if depth >= MAX_DEPTH:
            return
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError:
            return
        seeds = [c for c in children if c.name.startswith("seed-")]
        for child in children:
            if child.name in SKIPPED_FOLDERS or child.name.startswith("."):
                continue
            if seeds and child.name.startswith("seed-") and child != seeds[0]:
                continue
            walk(child, depth + 1)

    walk(root, 0)
    return found


def _kind(root: Path, provenance: dict[str, Any] | None, runs: list[Path]) -> str:
    if provenance and provenance.get("kind"):
        return str(provenance["kind"])
    for name, kind in (
        ("reproduce.json", "reproduce"),
        ("imbalance.json", "imbalance"),
        ("robustness.json", "robustness"),
    ):
        if (root / name).is_file():
            return kind
    if any(p.name.startswith("ratio-") for p in root.iterdir() if p.is_dir()):
        return "imbalance"
    if (root / "protocol.json").is_file() or any(r.parent == root for r in runs):
        return "compare"
    if _is_run(root):
        return (
            "train" if (root / "config.json").is_file() or (root / "log.csv").is_file() else "test"
        )
    return "unknown"


def read_run_folder(path: str | os.PathLike, feature_cache: str | None = None) -> RunFolderContents:
    """Read a run folder; ``feature_cache`` is one more place to look for its feature banks."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(
            f"{root} is not a folder; give the run folder that dfshield train, compare, "
            f"imbalance, reproduce, robustness or demo wrote (its --run-dir / --out)"
        )
    missing: list[str] = []
    provenance = read_json(root / "provenance.json", missing)
    run_paths = _run_folders(root)
    kind = _kind(root, provenance, run_paths)
    by_parent: dict[Path, list[Path]] = {}
    for run_path in run_paths:
        by_parent.setdefault(root if run_path == root else run_path.parent, []).append(run_path)
    if len(by_parent) > MAX_GROUPS:
        missing.append(
            f"{len(by_parent)} comparison folders hold runs; the first {MAX_GROUPS} are shown"
        )
    groups = []
    for parent, paths in list(by_parent.items())[:MAX_GROUPS]:
        title = root.name if parent == root else str(parent.relative_to(root))
        runs = [read_detector_run(p, p.name if p != root else root.name, missing) for p in paths]
        groups.append(Group(title, parent, read_json(parent / "results.json", missing), runs))
    contents = RunFolderContents(
        root,
        kind,
        groups,
        imbalance=read_json(root / "imbalance.json", missing),
        reproduce=read_json(root / "reproduce.json", missing),
        robustness=read_json(root / "robustness.json", missing),
        protocol=read_json(root / "protocol.json", missing),
        provenance=provenance,
        missing=missing,
    )
    if kind in ("compare", "demo", "train", "test") and contents.results is None:
        missing.append("results.json is missing (the run has not finished testing)")
    if kind == "unknown":
        missing.append(
            "nothing dfshield writes was found here (results.json, config.json, log.csv, "
            "imbalance.json, reproduce.json, robustness.json)"
        )
    contents.banks = find_banks(contents, feature_cache)
    return contents


def _cache_candidates(contents: RunFolderContents, feature_cache: str | None) -> list[Path]:
    candidates = []
    if feature_cache:
        candidates.append(Path(feature_cache))
    if contents.provenance and contents.provenance.get("feature_cache"):
        candidates.append(Path(contents.provenance["feature_cache"]))
    started_in = (contents.provenance or {}).get("cwd")  # where relative paths were meant
    for run in contents.runs:
        output_dir = ((run.config or {}).get("train") or {}).get("output_dir")
        if output_dir:
            if started_in and not Path(output_dir).is_absolute():
                candidates.append(Path(started_in) / output_dir / "feature_cache")
            candidates.append(Path(output_dir) / "feature_cache")
    candidates += [contents.path / "feature_cache", contents.path.parent / "feature_cache"]
    return list(dict.fromkeys(candidates))


def _json_files(contents: RunFolderContents) -> tuple[set[Path], set[str]]:
    """The dataset JSON files the runs read: full paths with ``json_dir``, else file names."""
    paths, names = set(), set()
    for run in contents.runs:
        json_dir = ((run.config or {}).get("data") or {}).get("json_dir")
        for key in ("train_datasets", "test_datasets"):
            for name in _datasets(run.config, key):
                if json_dir:
                    paths.add(Path(json_dir).resolve() / f"{name}.json")
                else:
                    names.add(f"{name}.json")
    return paths, names


def find_banks(contents: RunFolderContents, feature_cache: str | None = None) -> list[Path]:
    """Bank folders built from the dataset JSONs the run read, in the first cache that has any."""
    paths, names = _json_files(contents)
    if not paths and not names:
        return []
    for cache in _cache_candidates(contents, feature_cache):
        if not cache.is_dir():
            continue
        banks = []
        for folder in sorted(p for p in cache.iterdir() if p.is_dir()):
            if not (folder / "features.npy").is_file():
                continue
            sources = [Path(source) for source in _bank_sources(folder)]
            if any(s in paths or s.name in names for s in sources):
                banks.append(folder)
        if banks:
            return banks
    return []


def _bank_sources(folder: Path) -> list[str]:
    """The dataset JSON files named in a bank's identity (``json:<path>:<size>:<mtime>``)."""
    meta = read_json(folder / "meta.json")
    identity = (meta or {}).get("identity") or {}
    return [
        source[len("json:") :].rsplit(":", 2)[0]
        for source in identity.get("sources", [])
        if isinstance(source, str) and source.startswith("json:")
    ]
