"""Run a planned ``reproduce`` table: each (section, test set, seed) as one comparison."""

from __future__ import annotations

import os
from typing import Any

from dfshield.errors import DataError
from dfshield.studies.reproduce_plan import Plan, missing_datasets, missing_text
from dfshield.studies.reproduce_report import build_report, write_report
from dfshield.studies.reproduce_splits import prepare_splits

__all__ = ["run_reproduction"]


def run_reproduction(plan: Plan, feature_cache: str | os.PathLike | None = None) -> dict[str, Any]:
    """Check the data (DataError listing every missing dataset), prepare the splits, run every
    comparison and write the report (returned)."""
    from dfshield.studies.comparison import run_comparison

    missing = missing_datasets(plan)
    if missing:
        raise DataError(missing_text(plan, missing))
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
