"""``dfshield report``: one self-contained HTML page of a run folder, or a leaderboard across
several (:mod:`dfshield.html_report`, docs/report.md)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs",
        nargs="+",
        metavar="RUN_DIR",
        help="run folders written by train, test, compare, imbalance, reproduce, robustness or "
        "demo (finished or still running); several make a leaderboard page",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="the HTML file (default: RUN_DIR/report.html for one folder, ./report.html for "
        "several)",
    )
    parser.add_argument(
        "--feature-map",
        choices=("auto", "tsne", "pca", "none"),
        default="auto",
        help="2-D map of the feature bank: t-SNE for a small bank, PCA on a seeded sample of a "
        "large one (auto), either one, or none (faster)",
    )
    parser.add_argument(
        "--feature-cache",
        metavar="DIR",
        help="where the run's feature banks are, when not in <train.output_dir>/feature_cache",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dfshield.html_report import write_report

    path = write_report(
        args.run_dirs,
        args.output,
        feature_map=args.feature_map,
        feature_cache=args.feature_cache,
    )
    size = Path(path).stat().st_size
    print(f"report: {path} ({size / 1e6:.2f} MB, self-contained; open it in any browser)")
    return 0
