"""``dfshield compare``: several detectors, one protocol, one table and ROC plot."""

from __future__ import annotations

import argparse

from dfshield.commands._common import (
    add_config_arguments,
    add_overwrite_argument,
    add_report_argument,
    timestamped_dir,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--detectors",
        nargs="+",
        required=True,
        metavar="NAME",
        help="detector configs (names in configs/detectors/ or YAML paths)",
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--run-dir", metavar="DIR", help="run folder (default <train.output_dir>/compare-<time>)"
    )
    add_overwrite_argument(parser)
    add_report_argument(parser)


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from dfshield.eval.report import format_table
    from dfshield.html_report import finish_study
    from dfshield.studies.comparison import load_comparison_configs, run_comparison

    configs = load_comparison_configs(args.detectors, args.protocol, args.overrides)
    reference = next(iter(configs.values()))
    run_dir = (
        Path(args.run_dir)
        if args.run_dir
        else timestamped_dir(reference.train.output_dir, "compare")
    )
    started = time.time()
    rows = run_comparison(
        configs, run_dir, feature_cache=args.feature_cache, overwrite=args.overwrite
    )
    print(format_table(rows))
    finish_study(run_dir, "compare", started, report=args.report, feature_cache=args.feature_cache)
    print(
        f"run folder: {run_dir} (results.md, results.csv, results.json, roc.png, report.html, "
        "one folder a detector)"
    )
    return 0
