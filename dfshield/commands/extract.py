"""``dfshield extract``: encode the frames of every split into the feature bank, once."""

from __future__ import annotations

import argparse

from dfshield.commands._common import add_config_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--detector", metavar="NAME", help="a detector config (its backbone is used)"
    )
    source.add_argument("--config", metavar="FILE", help="a detector YAML file of your own")
    add_config_arguments(parser)
    parser.add_argument(
        "--splits", nargs="+", default=["train", "val", "test"], choices=["train", "val", "test"]
    )


def run(args: argparse.Namespace) -> int:
    from dfshield.config import load_run_config
    from dfshield.engine.batches import extract_banks

    cfg = load_run_config(args.protocol, args.config or args.detector, args.overrides)
    banks, is_main = extract_banks(cfg, args.splits, feature_cache=args.feature_cache)
    if is_main:
        for split, bank in banks.items():
            print(f"{split}: {len(bank)} frames x {bank.features.shape[1]} features -> {bank.path}")
    return 0
