"""Plan a ``dfshield reproduce NAME`` run (docs/reproduce.md): configs, data check, dry run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfshield import validation
from dfshield._suggest import did_you_mean
from dfshield.config import RunConfig, config_dir, load_run_config
from dfshield.errors import ConfigError, DataError
from dfshield.studies.reproduce_tables import TABLES, Row, Section, Subset, Table, TestSet

__all__ = [
    "Plan",
    "Run",
    "Split",
    "format_plan",
    "get_table",
    "list_tables",
    "missing_datasets",
    "missing_text",
    "plan_reproduction",
    "protocol_path",
    "row_sets",
    "rows_of",
    "tests_of",
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
    for test in tests_of(table):
        split = _split_datasets(section.subset, table.tests[test], data)
        names += [*split[0], *split[1]]
    return list(dict.fromkeys(names))


def tests_of(table: Table) -> list[str]:
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
    """How a (section, test set) reads data: sources, train/test datasets, subset, ``json_dir``."""

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
        """The run configs of ``run``'s rows (``train``: training datasets, default the split's)."""
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
                self.protocol,
                row.detector,
                [*row_sets(run.section, row), *self.overrides],
                [*self.layers, layer],
            )
            for row in rows_of(self.table, run.section)
        }


def rows_of(table: Table, section: Section) -> list:
    """The rows a section reports (those it has published values for), in table order."""
    return [row for row in table.rows if row.id in section.published]


def row_sets(section: Section, row: Row) -> list[str]:
    """A row's ``--set`` overrides in a section: its own, then the section's for it."""
    return [*row.sets, *section.sets.get(row.id, ())]


def plan_reproduction(
    name: str,
    run_dir: str | os.PathLike | None = None,
    *,
    overrides: Sequence[str] = (),
    data: Mapping[str, Any] | None = None,
    seeds: int | None = None,
) -> Plan:
    """Plan table ``name``, loading (so checking) every run config; ``overrides`` apply after each
    row's own, ``data`` options last; ``seeds`` defaults to the paper's number of runs."""
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
        for test in tests_of(table):
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
        "seed": base.train.seed,
        "val_fraction": data.val_fraction,
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


def missing_text(plan: Plan, missing: Mapping[str, str]) -> str:
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
        for row in rows_of(table, run.section):
            sets = "".join(f" --set '{s}'" for s in [*row_sets(run.section, row), *plan.overrides])
            lines.append(
                f"    {row.id:<12} {row.label}: dfshield config --protocol {plan.protocol} "
                f"--detector {row.detector}{sets}"
            )
    lines.append(
        f"prepared JSON copies: {', '.join(sorted({str(s.json_dir) for s in plan.splits}))}"
    )
    if missing:
        lines += ["", missing_text(plan, missing)]
    return "\n".join(lines)
