"""Arguments and helpers shared by several sub-commands."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_config_arguments(parser: argparse.ArgumentParser, detector_required: bool = False) -> None:
    """``--protocol``, ``--set`` (and the detector choice when the command trains one)."""
    parser.add_argument("--protocol", metavar="FILE",
                        help="protocol YAML (data, splits, epochs, batch, seed, selection metric); "
                             "default configs/protocol.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=5 (repeatable; "
                             "values are YAML)")
    parser.add_argument("--feature-cache", metavar="DIR",
                        help="folder of cached feature banks (default <train.output_dir>/feature_cache)")


def timestamped_dir(output_dir: str, prefix: str) -> Path:
    return Path(output_dir) / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
