"""Arguments and helpers shared by several sub-commands."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_detector_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument(
        "--detector",
        metavar="NAME",
        help="a detector config shipped in configs/detectors/ (e.g. spcup)",
    )
    source.add_argument("--config", metavar="FILE", help="a detector YAML file of your own")


def add_set_argument(parser: argparse.ArgumentParser, example: str = "train.epochs=5") -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config value, e.g. --set {example} (repeatable; values are YAML)",
    )


def add_overwrite_argument(parser: argparse.ArgumentParser | argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run(s) already in --run-dir (a run's files are removed when its "
        "training starts, not before)",
    )


def add_config_arguments(
    parser: argparse.ArgumentParser, feature_cache: bool = True, report: bool = False
) -> None:
    """``--protocol``, ``--set``, ``--feature-cache`` (unless False), ``--no-report`` (if asked)."""
    parser.add_argument(
        "--protocol",
        metavar="FILE",
        help="protocol YAML (data, splits, epochs, batch, seed, selection metric); "
        "default configs/protocol.yaml",
    )
    add_set_argument(parser)
    if feature_cache:
        parser.add_argument(
            "--feature-cache",
            metavar="DIR",
            help="folder of cached feature banks (default <train.output_dir>/feature_cache)",
        )
    if report:
        add_report_argument(parser)


def add_extra_test_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--extra-test",
        dest="extra_tests",
        action="append",
        default=[],
        metavar="PATH_OR_NAME",
        help="also test on a folder with real/ and fake/ images (converted once into "
        "a cache) or a DeepfakeBench dataset name from data.json_dir (repeatable)",
    )


def timestamped_dir(output_dir: str, prefix: str) -> Path:
    return Path(output_dir) / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def add_report_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-report",
        dest="report",
        action="store_false",
        help="do not write report.html at the end (make it later with dfshield report RUN_DIR)",
    )
