"""``dfshield imbalance``: the comparison at several real:fake training ratios, mean ± std
over seeds (ratios: :mod:`dfshield.studies.subsample`; outputs: ``studies.imbalance_report``)."""

from __future__ import annotations

import argparse

from dfshield.commands._common import (
    add_config_arguments,
    add_extra_test_argument,
    add_overwrite_argument,
    timestamped_dir,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dfshield.studies.imbalance import ABLATIONS

    parser.add_argument(
        "--detectors",
        nargs="+",
        default=[],
        metavar="NAME",
        help="detector configs (names in configs/detectors/ or YAML paths)",
    )
    parser.add_argument(
        "--ablation",
        choices=sorted(ABLATIONS),
        help="add a preset of detector configs: 'losses' = BCE, VS, CVaR(VS), "
        "CVaR(VS)+AUC, CVaR(VS)+AUC+SAM on spcup's network (configs/ablation/)",
    )
    parser.add_argument(
        "--ratios",
        nargs="+",
        required=True,
        metavar="R",
        help="majority:minority training ratios r:1, numbers >= 1 (1 = balanced), "
        "e.g. --ratios 1 10 30 100",
    )
    parser.add_argument(
        "--minority",
        choices=["fake", "real"],
        default="fake",
        help="the class subsampled to n_other / r videos (default fake: every real "
        "training video is kept, real:fake = r:1)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=3,
        metavar="N",
        help="seeds per ratio (default 3): train.seed, train.seed + 1, ...; each sets "
        "both the subsample and the training seed",
    )
    add_extra_test_argument(parser)
    add_config_arguments(parser, report=True)
    parser.add_argument(
        "--run-dir", metavar="DIR", help="run folder (default <train.output_dir>/imbalance-<time>)"
    )
    add_overwrite_argument(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dfshield.config import load_run_config
    from dfshield.html_report import study_report
    from dfshield.studies.imbalance import expand_detectors, run_imbalance
    from dfshield.studies.subsample import check_seeds

    detectors = expand_detectors(args.detectors, args.ablation)
    check_seeds(args.seeds)
    run_dir = args.run_dir or timestamped_dir(
        load_run_config(args.protocol, None, args.overrides).train.output_dir, "imbalance"
    )
    with study_report(run_dir, "imbalance", args.report, args.feature_cache):
        result = run_imbalance(
            detectors,
            args.ratios,
            Path(run_dir),
            minority=args.minority,
            seeds=args.seeds,
            protocol=args.protocol,
            overrides=args.overrides,
            feature_cache=args.feature_cache,
            extra_tests=args.extra_tests,
            overwrite=args.overwrite,
        )
    if (markdown := Path(run_dir) / "imbalance.md").is_file():
        print(markdown.read_text(encoding="utf-8"))
    files = "imbalance.md, .csv, _runs.csv, .json, .png, " + "report.html, " * args.report
    print(f"run folder: {run_dir} ({files}a folder a ratio and seed); {len(result['runs'])} runs")
    return 0
