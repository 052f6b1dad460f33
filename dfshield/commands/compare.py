"""``dfshield compare``: several detectors, one protocol, one table and ROC plot."""

from __future__ import annotations

import argparse

from dfshield.commands._common import (
    add_config_arguments,
    add_overwrite_argument,
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
    add_config_arguments(parser, report=True)
    parser.add_argument(
        "--run-dir", metavar="DIR", help="run folder (default <train.output_dir>/compare-<time>)"
    )
    add_overwrite_argument(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dfshield.eval.results import format_table
    from dfshield.html_report import study_report
    from dfshield.studies.comparison import has_wrapped, load_comparison_configs, run_comparison

    configs = load_comparison_configs(args.detectors, args.protocol, args.overrides)
    reference = next(iter(configs.values()))
    run_dir = (
        Path(args.run_dir)
        if args.run_dir
        else timestamped_dir(reference.train.output_dir, "compare")
    )
    with study_report(run_dir, "compare", args.report, args.feature_cache):
        rows = run_comparison(
            configs, run_dir, feature_cache=args.feature_cache, overwrite=args.overwrite
        )
    print(format_table(rows, deepfakebench=has_wrapped(configs)))
    report = "report.html, " if args.report else ""
    print(
        f"run folder: {run_dir} ({report}results.md, results.csv, results.json, roc.png, "
        "one folder a detector)"
    )
    return 0
