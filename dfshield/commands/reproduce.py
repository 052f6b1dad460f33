"""``dfshield reproduce NAME``: re-run a published table of dfshield's source papers and write
ours beside theirs (:mod:`dfshield.studies.reproduce_plan`; docs/reproduce.md)."""

from __future__ import annotations

import argparse

from dfshield.commands._common import add_report_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("name", nargs="?", metavar="NAME", help="the table, e.g. spcup-table2 (see --list)")
    add("--list", action="store_true", help="list every table with its paper and datasets")
    add("--json-dir", metavar="DIR", help="folder of the DeepfakeBench dataset JSONs")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--lmdb-dir", metavar="DIR", help="folder holding <Dataset>_lmdb")
    where.add_argument(
        "--data-root", metavar="DIR", help="read frames from disk, JSON paths relative to DIR"
    )
    add(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value of every run, e.g. --set train.epochs=5 (repeatable)",
    )
    add("--seeds", type=int, metavar="N", help="training seeds (default: the paper's runs)")
    add("--dry-run", action="store_true", help="print the plan and the data check; train nothing")
    add(
        "--run-dir", metavar="DIR", help="output folder (default <train.output_dir>/reproduce/NAME)"
    )
    add(
        "--feature-cache",
        metavar="DIR",
        help="folder of cached feature banks (default <train.output_dir>/feature_cache)",
    )
    add_report_argument(parser)


def run(args: argparse.Namespace) -> int:
    from dfshield.errors import ConfigError
    from dfshield.html_report import study_report
    from dfshield.studies import reproduce_plan, reproduce_report, reproduce_run

    if args.list:
        print(reproduce_plan.list_tables())
        return 0
    if not args.name:
        raise ConfigError("name a table, e.g. dfshield reproduce spcup-table2 (--list shows all)")
    data = {"json_dir": args.json_dir, "lmdb_dir": args.lmdb_dir, "data_root": args.data_root}
    data = {key: value for key, value in data.items() if value}
    if args.data_root:
        data["lmdb_dir"] = None
    plan = reproduce_plan.plan_reproduction(
        args.name, args.run_dir, overrides=args.overrides, data=data, seeds=args.seeds
    )
    if args.dry_run:
        print(reproduce_plan.format_plan(plan))
        return 0
    with study_report(plan.run_dir, "reproduce", args.report, args.feature_cache):
        report = reproduce_run.run_reproduction(plan, feature_cache=args.feature_cache)
    print(reproduce_report.format_report(report))
    html = ", report.html" * args.report
    print(f"written: {plan.run_dir}/reproduce.md, reproduce.csv, reproduce.json{html}")
    return 0
