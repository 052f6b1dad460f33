"""``dfshield extract``: encode the frames of every split into the feature bank, once."""

from __future__ import annotations

import argparse

from dfshield.commands._common import add_config_arguments, add_detector_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_detector_arguments(parser, required=True)
    add_config_arguments(parser)
    parser.add_argument(
        "--splits", nargs="+", default=["train", "val", "test"], choices=["train", "val", "test"]
    )


def run(args: argparse.Namespace) -> int:
    from dfshield.config import load_run_config
    from dfshield.engine.batch_sources import extract_banks

    cfg = load_run_config(args.protocol, args.config or args.detector, args.overrides)
    banks, is_main = extract_banks(cfg, args.splits, feature_cache=args.feature_cache)
    if is_main:
        for split, bank in banks.items():
            print(f"{split}: {len(bank)} frames x {bank.features.shape[1]} features -> {bank.path}")
    return 0
