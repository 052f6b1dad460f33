"""Reproduce a published table in one command: ``dfshield reproduce NAME`` (docs/reproduce.md).

A table (:data:`~dfshield.studies.reproduce_tables.TABLES`) names a protocol file in
``configs/protocols/``, the variants it compares (a detector config plus ``--set`` overrides each)
and the published cells. Reproducing it takes five steps:

1. **Plan** (:func:`plan_reproduction`): one run config per row, section, test set and seed
   (protocol file < detector file < the row's ``--set`` < your ``--set`` < data options), all
   loaded before anything is read or trained, so a bad option fails at once. ``--dry-run`` prints
   the plan (:func:`format_plan`).
2. **Check the data** (:func:`missing_datasets`): every dataset needs its JSON and its LMDB (or
   frame folder). Missing ones are listed with the ``dfshield data-info`` command that checks
   them, and nothing trains.
3. **Prepare the splits** (:func:`prepare_splits`): filtered copies of the dataset JSONs under
   ``<train.output_dir>/reproduce/data/<digest>/json``, shared by every table with the same data
   (so frozen-backbone feature banks are encoded once); the LMDBs are read as they are.

   - A training dataset loses the videos its test split lists: DeepfakeBench lists Celeb-DF's test
     videos under train too, and UADFV's and DeepFakeDetection's under every split. A dataset
     left without training videos is used for testing only.
   - Validation drops the test and training videos; a dataset left without validation videos
     (Celeb-DF, whose val split is its test split; DFDC, whose val split is its train split)
     selects on its training split, and so does a subset.
   - DDLN's subsets keep exactly Table 1's video counts per split and class, chosen by video with
     :func:`dfshield.studies.subsample.select_videos` seeded by ``train.seed`` (one subset for
     every training seed).
   - A test set at another compression level (DDLN's Table 5) reads that level's test videos
     in place of the protocol's level.

4. **Run** each (section, test set, seed) as one comparison of the table's rows
   (:func:`dfshield.studies.comparison.run_comparison`) in
   ``<run dir>/<section>/<test set>/seed-<seed>/``.
5. **Report** (:func:`write_report`): ``reproduce.md`` / ``.csv`` / ``.json`` with, per cell, the
   published value, ours (mean ± sample standard deviation over the seeds, in the paper's unit)
   and the difference, plus the protocol differences that remain and what each data preparation
   did.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import hashlib
import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dfshield import validation
from dfshield._suggest import did_you_mean
from dfshield.config import RunConfig, config_dir, load_run_config
from dfshield.errors import ConfigError, DataError
from dfshield.studies.reproduce_tables import TABLES, Section, Subset, Table, TestSet

__all__ = [
    "Plan",
    "build_report",
    "format_plan",
    "format_report",
    "get_table",
    "list_tables",
    "metric_value",
    "missing_datasets",
    "plan_reproduction",
    "prepare_splits",
    "protocol_path",
    "published_values",
    "run_reproduction",
    "write_report",
]

_OWNER = "dfshield reproduce"


# -- tables ------------------------------------------------------------------------------------


def get_table(name: str) -> Table:
    """The table called ``name``; an unknown name is an error listing them."""
    if name not in TABLES:
        raise ConfigError(
            f"no reproducible table '{name}'.{did_you_mean(str(name), TABLES)} "
            f"Tables: {', '.join(TABLES)} (dfshield reproduce --list describes them)"
        )
    return TABLES[name]


def protocol_path(table: Table) -> Path:
    return config_dir() / "protocols" / f"{table.protocol}.yaml"


def list_tables() -> str:
    """One entry per table: name, paper, title, protocol and the datasets it reads."""
    blocks = []
    for table in TABLES.values():
        data = load_run_config(protocol_path(table)).data
        names = sorted(
            {n for section in table.sections for n in _section_datasets(table, section, data)}
        )
        blocks.append(
            f"{table.name}\n  {table.paper}\n  {table.title}\n"
            f"  protocol configs/protocols/{table.protocol}.yaml; {table.seeds} seed(s)\n"
            f"  datasets: {', '.join(names)}"
        )
    return "\n\n".join(blocks)


def _section_datasets(table: Table, section: Section, data: Any) -> list[str]:
    names = []
    for test in _tests(table):
        split = _split_datasets(section.subset, table.tests[test], data)
        names += [*split[0], *split[1]]
    return list(dict.fromkeys(names))


def _tests(table: Table) -> list[str]:
    """The test sets the columns use, in column order."""
    return list(dict.fromkeys(column.test for column in table.columns))


def _split_datasets(subset: Subset | None, test: TestSet, data: Any) -> tuple[tuple, tuple]:
    """(train datasets, test datasets) of a section and test set."""
    if subset is not None:
        return (subset.dataset,), test.datasets or (subset.dataset,)
    return tuple(data.train_datasets), test.datasets or tuple(data.test_datasets)


# -- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """How one (section, test set) reads its data: the source datasets (``data``: the protocol's
    data config with your options), which datasets train and test, the subset and test level, and
    the folder of the prepared JSON copies (``json_dir``)."""

    data: Any = field(compare=False)
    train: tuple[str, ...]
    test: tuple[str, ...]
    subset: Subset | None
    level: str | None
    seed: int
    json_dir: Path


@dataclass
class Run:
    """One comparison of a section's rows on one test set with one seed."""

    section: Section
    test: str
    seed: int
    folder: Path
    split: Split
    configs: dict[str, RunConfig] = field(default_factory=dict)


@dataclass
class Plan:
    """Everything :func:`run_reproduction` does, decided and checked before any data is read."""

    table: Table
    protocol: Path
    run_dir: Path
    seeds: list[int]
    runs: list[Run]
    overrides: list[str]
    layers: list[tuple[str, dict]]

    @property
    def splits(self) -> list[Split]:
        return list(dict.fromkeys(run.split for run in self.runs))

    def load_configs(self, run: Run, train: Sequence[str] | None = None) -> dict[str, RunConfig]:
        """The run configs of ``run``'s rows (``train``: the training datasets, default the
        split's)."""
        split = run.split
        layer = (
            f"{_OWNER} {self.table.name}: {run.section.name}, test {run.test}, seed {run.seed}",
            {
                "data": {
                    "json_dir": str(split.json_dir),
                    "train_datasets": list(split.train if train is None else train),
                    "test_datasets": list(split.test),
                },
                "train": {"seed": run.seed},
            },
        )
        return {
            row.id: load_run_config(
                self.protocol, row.detector, [*row.sets, *self.overrides], [*self.layers, layer]
            )
            for row in _rows(self.table, run.section)
        }


def _rows(table: Table, section: Section) -> list:
    """The rows a section reports (those it has published values for), in table order."""
    return [row for row in table.rows if row.id in section.published]


def plan_reproduction(
    name: str,
    run_dir: str | os.PathLike | None = None,
    *,
    overrides: Sequence[str] = (),
    data: Mapping[str, Any] | None = None,
    seeds: int | None = None,
) -> Plan:
    """Plan table ``name``: every run config is loaded (and checked) here.

    Args:
        name: a table name (:func:`list_tables`).
        run_dir: output folder (default ``<train.output_dir>/reproduce/<name>``).
        overrides: ``key=value`` overrides applied to every run after the row's own.
        data: ``data`` options (``json_dir``, ``lmdb_dir``, ``data_root``) applied last.
        seeds: number of training seeds (default: the paper's number of runs).
    """
    table = get_table(name)
    protocol = protocol_path(table)
    layers = [("command line data options", {"data": dict(data)})] if data else []
    base = load_run_config(protocol, None, list(overrides), layers)
    count = table.seeds if seeds is None else validation.integer(_OWNER, "seeds", seeds, low=1)
    seed_values = [base.train.seed + i for i in range(count)]
    output = Path(base.train.output_dir) / "reproduce"
    run_dir = Path(run_dir) if run_dir else output / table.name
    plan = Plan(table, protocol, run_dir, seed_values, [], list(overrides), layers)
    for section in table.sections:
        for test in _tests(table):
            split = _plan_split(section.subset, table.tests[test], base, output / "data")
            for seed in seed_values:
                folder = run_dir / _folder_name(section.name) / test / f"seed-{seed}"
                run = Run(section, test, seed, folder, split)
                run.configs = plan.load_configs(run)
                plan.runs.append(run)
    return plan


def _plan_split(subset: Subset | None, test: TestSet, base: RunConfig, root: Path) -> Split:
    data = base.data
    train, tests = _split_datasets(subset, test, data)
    key = {
        "json_dir": os.path.abspath(data.json_dir),
        "compression": data.compression,
        "label_dict": data.label_dict,
        "train": train,
        "test": tests,
        "subset": dataclasses.asdict(subset) if subset else None,
        "level": test.level,
        "seed": base.train.seed if subset else None,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Split(data, train, tests, subset, test.level, base.train.seed, root / digest / "json")


def _folder_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-")


# -- checking the data -------------------------------------------------------------------------


def missing_datasets(plan: Plan) -> dict[str, str]:
    """``{dataset: why}`` for every dataset of the plan without its JSON or its frames."""
    from dfshield.data.frame_stores import open_store
    from dfshield.data.index import json_path

    missing: dict[str, str] = {}
    for split in plan.splits:
        for name in dict.fromkeys([*split.train, *split.test]):
            if name in missing:
                continue
            try:
                json_path(split.data.json_dir, name)
                open_store(name, split.data)
            except DataError as error:
                missing[name] = str(error)
    return missing


def _missing_text(plan: Plan, missing: Mapping[str, str]) -> str:
    data = plan.splits[0].data
    where = (
        f"--lmdb-dir {data.lmdb_dir}" if data.lmdb_dir else f"--data-root {data.data_root or '.'}"
    )
    lines = [
        f"{plan.table.name} needs {len(missing)} dataset(s) that are not set up; nothing was "
        f"trained:"
    ]
    lines += [f"  {name}: {why}" for name, why in missing.items()]
    lines.append(
        "Fix: point --json-dir at the folder of DeepfakeBench's dataset JSONs and --lmdb-dir at "
        "the folder holding <Dataset>_lmdb (or --data-root at the frame folders), then check "
        "each dataset with"
    )
    level = "" if data.compression == "c23" else f" --compression {data.compression}"
    lines += [
        f"  dfshield data-info --dataset {name} --json-dir {data.json_dir} {where}{level}"
        for name in missing
    ]
    lines.append("docs/reproduce.md says where each dataset comes from.")
    return "\n".join(lines)


# -- preparing the splits ----------------------------------------------------------------------


def prepare_splits(split: Split) -> tuple[list[str], list[str]]:
    """Write the filtered JSON copies of one split (see the module docstring) and check that they
    read back as planned. Returns (the training datasets that keep training videos, notes)."""
    work = _Preparation(split)
    training = [name for name in split.train if work.training(name)]
    for name in split.test:
        work.testing(name)
    work.write()
    return training, work.notes


class _Preparation:
    """The JSON copies of one :class:`Split` being prepared, with the class counts each prepared
    split must read back and notes on what was done."""

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
        """Train and val of ``name`` without test videos (and the subset); False when no
        training video is left."""
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
        if val:
            _keep(info, "val", {r.video_path for r in val})
        else:
            _copy_split(info, "train", "val")
            val = train
            self.notes.append(
                f"{name}: selects on its training split (no validation videos apart from its "
                f"test or training videos{', or a subset' if subset else ''})"
            )
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
        """Write the copies (unchanged files keep their time stamps, so feature banks stay
        valid) and check that each prepared split reads back the planned class counts."""
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


def _groups(info: dict):
    """Every ``splits`` mapping (``{train: …, val: …, test: …}``) of a dataset JSON."""
    for groups in info.values():
        if isinstance(groups, dict):
            for splits in groups.values():
                if isinstance(splits, dict):
                    yield splits


def _keep(info: dict, which: str, keep: set[str]) -> None:
    """Keep in split ``which`` only the videos in ``keep``, at every level (in place).

    :func:`~dfshield.studies.subsample.filter_train_split` filters ``train``; another split is
    swapped into ``train`` and back."""
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


# -- running -----------------------------------------------------------------------------------


def run_reproduction(plan: Plan, feature_cache: str | os.PathLike | None = None) -> dict[str, Any]:
    """Check the data, prepare the splits, run every comparison and write the report.

    Raises :class:`DataError` listing every missing dataset before anything is prepared or
    trained. Returns the report (:func:`write_report`).
    """
    from dfshield.studies.comparison import run_comparison

    missing = missing_datasets(plan)
    if missing:
        raise DataError(_missing_text(plan, missing))
    prepared = {split: prepare_splits(split) for split in plan.splits}
    for run in plan.runs:  # every config again, with the datasets left for training
        training = prepared[run.split][0]
        if not training:
            raise DataError(
                f"no training videos are left in {', '.join(run.split.train)} once their test "
                f"videos are removed; {plan.table.name} needs training data apart from its test "
                f"split"
            )
        run.configs = plan.load_configs(run, training)
    results: dict[tuple[str, str, int], dict[str, dict]] = {}
    for run in plan.runs:
        rows = run_comparison(run.configs, run.folder, feature_cache=feature_cache)
        results[(run.section.name, run.test, run.seed)] = {row["detector"]: row for row in rows}
    notes = {
        section.name: list(
            dict.fromkeys(
                note
                for run in plan.runs
                if run.section == section
                for note in prepared[run.split][1]
            )
        )
        for section in plan.table.sections
    }
    report = build_report(plan, results, notes)
    write_report(plan.run_dir, report)
    return report


# -- the report --------------------------------------------------------------------------------


def metric_value(metrics: Mapping[str, Any], key: str) -> float | None:
    """The finite value of metric ``key``, or None when dfshield does not compute it.

    ``<m>_real`` (e.g. ``f1_real``) is metric ``<m>`` with real as the positive class, derived
    exactly from the fake-class value and the macro average: real = 2·macro − fake.
    """
    from dfshield.eval.results import number

    if key in metrics:
        return number(metrics[key], finite=True)
    if key.endswith("_real"):
        fake = number(metrics.get(key[: -len("_real")]), finite=True)
        macro = number(metrics.get(key[: -len("_real")] + "_macro"), finite=True)
        if fake is not None and macro is not None:
            return 2.0 * macro - fake
    return None


def published_values(text: str) -> list[tuple[float, float | None] | None]:
    """Cells as printed: ``0.9137``, ``95.6±0.29`` (mean ± std) or ``-`` (no value)."""
    values: list[tuple[float, float | None] | None] = []
    for token in text.split():
        if token == "-":
            values.append(None)
        else:
            mean, _, std = token.partition("±")
            values.append((float(mean), float(std) if std else None))
    return values


def build_report(
    plan: Plan,
    results: Mapping[tuple[str, str, int], Mapping[str, Mapping[str, Any]]],
    notes: Mapping[str, list[str]],
) -> dict[str, Any]:
    """The report as plain data: per section and row, one cell per column with ``published``
    (and ``published_std``), ``ours`` (mean over seeds, scaled), ``ours_std`` and
    ``difference`` = ours − published. Cells the paper leaves empty are left out."""
    table, absent = plan.table, set()
    sections = []
    for section in table.sections:
        rows = []
        for row in _rows(table, section):
            cells = []
            for column, published in zip(
                table.columns, published_values(section.published[row.id])
            ):
                if published is None:
                    continue
                values = [
                    metric_value(results[(section.name, column.test, seed)][row.id], column.metric)
                    for seed in plan.seeds
                ]
                found = [table.scale * v for v in values if v is not None]
                if not found:
                    absent.add(column.metric)
                ours = float(np.mean(found)) if found else None
                cells.append(
                    {
                        "column": column.header,
                        "metric": column.metric,
                        "test": column.test,
                        "published": published[0],
                        "published_std": published[1],
                        "ours": ours,
                        "ours_std": float(np.std(found, ddof=1)) if len(found) > 1 else None,
                        "difference": None if ours is None else ours - published[0],
                        "runs": [None if v is None else table.scale * v for v in values],
                    }
                )
            rows.append(
                {
                    "id": row.id,
                    "label": row.label,
                    "detector": row.detector,
                    "sets": list(row.sets),
                    "cells": cells,
                }
            )
        sections.append({"name": section.name, "rows": rows, "data": notes.get(section.name, [])})
    return {
        "name": table.name,
        "paper": table.paper,
        "title": table.title,
        "protocol": str(plan.protocol),
        "seeds": plan.seeds,
        "overrides": plan.overrides,
        "scale": table.scale,
        "decimals": table.decimals,
        "sections": sections,
        "differences": list(table.differences),
        "not_reproduced": list(table.not_reproduced),
        "not_computed": sorted(absent),
        "run_dir": str(plan.run_dir),
    }


def _shown(value: float | None, decimals: int, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.{decimals}f}" if sign else f"{value:.{decimals}f}"


def _cell_texts(cell: Mapping[str, Any], decimals: int) -> tuple[str, str, str]:
    """A cell as (published, ours, difference) text."""
    paper = _shown(cell["published"], decimals)
    if cell["published_std"] is not None:
        paper += f" ± {cell['published_std']:g}"
    ours = _shown(cell["ours"], decimals)
    if cell["ours_std"] is not None:
        ours += f" ± {cell['ours_std']:.{decimals}f}"
    return paper, ours, _shown(cell["difference"], decimals, sign=True)


def format_report(report: Mapping[str, Any]) -> str:
    """The report as Markdown (``reproduce.md``; also printed by the command)."""
    d = report["decimals"]
    lines = [
        f"# {report['name']}: {report['title']}",
        "",
        f"{report['paper']}. Protocol `{report['protocol']}`; seeds "
        f"{', '.join(map(str, report['seeds']))}"
        + (f"; --set {' '.join(report['overrides'])}" if report["overrides"] else "")
        + ". `paper` is the published value, `dfshield` ours (mean ± standard deviation over the "
        "seeds), `difference` ours − paper. — : not published, or not computed by dfshield.",
    ]
    for section in report["sections"]:
        headers = list(dict.fromkeys(c["column"] for r in section["rows"] for c in r["cells"]))
        lines += ["", f"## {section['name']}", ""]
        lines.append("| Method | | " + " | ".join(headers) + " |")
        lines.append("| --- | --- | " + " | ".join("---:" for _ in headers) + " |")
        for row in section["rows"]:
            texts = {c["column"]: _cell_texts(c, d) for c in row["cells"]}
            labels = (row["label"].replace("|", "\\|"), "", "")
            for i, (label, kind) in enumerate(zip(labels, ("paper", "dfshield", "difference"))):
                shown = [texts[h][i] if h in texts else "" for h in headers]
                lines.append(f"| {label} | {kind} | " + " | ".join(shown) + " |")
        if section["data"]:
            lines += ["", "Data preparation:", *[f"- {note}" for note in section["data"]]]
    lines += ["", "## Protocol differences that remain", ""]
    lines += [f"- {text}" for text in report["differences"]]
    if report["not_computed"]:
        lines.append(
            f"- Not computed by dfshield (shown as —): {', '.join(report['not_computed'])}."
        )
    if report["not_reproduced"]:
        lines.append(
            "- Rows of methods dfshield does not implement are left out: "
            f"{', '.join(report['not_reproduced'])}."
        )
    lines += [
        "",
        f"Runs: `{report['run_dir']}` (one comparison folder per section, test set and seed).",
        "",
    ]
    return "\n".join(lines)


CSV_COLUMNS = (
    "section",
    "row",
    "label",
    "column",
    "metric",
    "test",
    "published",
    "published_std",
    "ours",
    "ours_std",
    "difference",
)


def write_report(run_dir: str | os.PathLike, report: Mapping[str, Any]) -> dict[str, Path]:
    """Write ``reproduce.md``, ``reproduce.csv`` (one line per cell) and ``reproduce.json``
    atomically into ``run_dir``. Returns ``{"md": path, "csv": path, "json": path}``."""
    from dfshield.fileio import write_json_atomic, write_text_atomic

    out = Path(run_dir)
    paths = {kind: out / f"reproduce.{kind}" for kind in ("md", "csv", "json")}
    write_text_atomic(paths["md"], format_report(report))
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for section in report["sections"]:
        for row in section["rows"]:
            for cell in row["cells"]:
                writer.writerow(
                    {
                        "section": section["name"],
                        "row": row["id"],
                        "label": row["label"],
                        **{k: "" if v is None else v for k, v in cell.items()},
                    }
                )
    write_text_atomic(paths["csv"], buffer.getvalue())
    write_json_atomic(paths["json"], report)
    return paths


# -- the plan as text --------------------------------------------------------------------------


def format_plan(plan: Plan) -> str:
    """What :func:`run_reproduction` would do: datasets (with their state), runs and configs."""
    table, data = plan.table, plan.splits[0].data
    missing = missing_datasets(plan)
    names = list(dict.fromkeys(n for s in plan.splits for n in (*s.train, *s.test)))
    store = f"lmdb {data.lmdb_dir}" if data.lmdb_dir else f"frames under {data.data_root or '.'}"
    lines = [
        f"{table.name}: {table.title}",
        f"  {table.paper}",
        f"protocol: {plan.protocol}",
        f"seeds: {', '.join(map(str, plan.seeds))}",
        f"datasets (json {data.json_dir}, {store}):",
        *[f"  {n:<20} {'MISSING' if n in missing else 'found'}" for n in names],
    ]
    trainings = sum(len(run.configs) for run in plan.runs)
    lines.append(f"runs: {len(plan.runs)} comparisons, {trainings} trainings, into {plan.run_dir}")
    shown = set()
    for run in plan.runs:
        key = (run.section.name, run.test)
        if key in shown:
            continue
        shown.add(key)
        split = run.split
        what = [f"train {', '.join(split.train)}", f"test {', '.join(split.test)}"]
        if split.subset:
            what.append(f"subset train {split.subset.train} test {split.subset.test} (real, fake)")
        if split.level:
            what.append(f"test level {split.level}")
        lines.append(f"  {run.section.name} / test set {run.test}: {'; '.join(what)}")
        for row in _rows(table, run.section):
            sets = "".join(f" --set '{s}'" for s in [*row.sets, *plan.overrides])
            lines.append(
                f"    {row.id:<12} {row.label}: dfshield config --protocol {plan.protocol} "
                f"--detector {row.detector}{sets}"
            )
    lines.append(
        f"prepared JSON copies: {', '.join(sorted({str(s.json_dir) for s in plan.splits}))}"
    )
    if missing:
        lines += ["", _missing_text(plan, missing)]
    return "\n".join(lines)
