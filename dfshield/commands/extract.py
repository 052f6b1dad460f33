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
    from dfshield.engine.trainer import Trainer
    from dfshield.errors import ConfigError

    cfg = load_run_config(args.protocol, args.config or args.detector, args.overrides)
    trainer = Trainer(cfg, run_dir=".", feature_cache=args.feature_cache)
    if not trainer.detector.uses_feature_bank:
        raise ConfigError(
            f"detector '{trainer.name}' trains its backbone end to end; only frozen "
            "backbones have a feature bank"
        )
    for split in args.splits:
        bank = trainer.bank(split)
        if trainer.dist.is_main:
            print(f"{split}: {len(bank)} frames x {bank.features.shape[1]} features -> {bank.path}")
    return 0
