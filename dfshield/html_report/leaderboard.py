"""The leaderboard across run folders: one row per (detector, train set, test set), each
naming the page section it came from (docs/report.md, "The leaderboard")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfshield.html_report.run_folder_reader import Group, RunFolderContents, read_json

#: ``(header, metric key, higher is better)`` of the leaderboard's metric columns
METRICS = (
    ("AUC", "auc", True),
    ("AP", "ap", True),
    ("EER", "eer", False),
    ("ACC", "acc", True),
    ("video AUC", "video_auc", True),
)


@dataclass
class Entry:
    detector: str
    train_set: str
    test_set: str
    metrics: dict[str, Any]
    folder: str
    anchor: str


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def row_anchor(folder_index: int, contents: RunFolderContents, group: Group, detector: str) -> str:
    """The id of a results-table row in the page: folder, comparison and detector."""
    where = "" if group.path == contents.path else f"{group.title}-"
    return f"run-{folder_index}-{slug(where + detector)}"


def _train_set(group: Group, detector: str) -> str:
    for run in group.runs:
        if run.name == detector:
            return run.train_set
    return group.runs[0].train_set if group.runs else "—"


def _group_entries(index: int, contents: RunFolderContents, group: Group) -> list[Entry]:
    rows = (group.results or {}).get("rows") or []
    tests = {run.name: run.tests[0].name for run in group.runs if run.tests}
    entries = []
    for row in rows:
        name = str(row.get("detector"))
        test_set = row.get("test_set")
        base = name
        if test_set and name.endswith(f" on {test_set}"):
            base = name[: -len(f" on {test_set}")]
        label = base if group.path == contents.path else f"{base} ({group.title})"
        entries.append(
            Entry(
                label,
                _train_set(group, base),
                str(test_set or tests.get(base) or "test"),
                dict(row),
                contents.path.name,
                row_anchor(index, contents, group, name),
            )
        )
    return entries


def _robustness_train_sets(document: dict[str, Any]) -> dict[str, str]:
    """Each checkpoint's training datasets, from the ``config.json`` of its run folder."""
    found = {}
    for checkpoint in document.get("checkpoints") or []:
        run = Path(str(checkpoint.get("path", ""))).parent.parent
        config = read_json(run / "config.json") or {}
        datasets = (config.get("data") or {}).get("train_datasets") or []
        if datasets:
            found[str(checkpoint.get("label"))] = ", ".join(map(str, datasets))
    return found


def leaderboard_entries(folders: list[RunFolderContents]) -> list[Entry]:
    entries: list[Entry] = []
    for index, contents in enumerate(folders):
        if contents.imbalance:
            settings = contents.imbalance.get("settings") or {}
            train = ", ".join(settings.get("train_datasets") or []) or "—"
            for row in contents.imbalance.get("summary") or []:
                metrics = {key: row.get(f"{key}_mean") for _, key, _ in METRICS}
                entries.append(
                    Entry(
                        f"{row.get('detector')} @ {row.get('ratio')}:1",
                        train,
                        str(row.get("test_set")),
                        metrics,
                        contents.path.name,
                        f"run-{index}-imbalance",
                    )
                )
            continue
        if contents.robustness:
            trained = _robustness_train_sets(contents.robustness)
            for row in contents.robustness.get("rows") or []:
                if row.get("kind") != "clean":
                    continue
                for label, metrics in (row.get("metrics") or {}).items():
                    train, where = trained.get(label, "—"), contents.path.name
                    entries.append(
                        Entry(label, train, "test (clean)", metrics, where, f"run-{index}")
                    )
        for group in contents.groups:
            entries += _group_entries(index, contents, group)
    return entries
