"""``dfshield test``: evaluate a checkpoint on a test split (the one it was trained for, or another)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfshield.commands._common import add_config_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="a best.pt or last.pt")
    add_config_arguments(parser)
    parser.add_argument("--out", metavar="DIR",
                        help="folder for test_metrics.json, test_scores.csv and results.md "
                             "(default: a 'test' folder beside the checkpoint's run)")


def run(args: argparse.Namespace) -> int:
    from dfshield.config import build_config, load_yaml, parse_overrides
    from dfshield.training.checkpoint import load_checkpoint
    from dfshield.training.report import format_table, plot_roc, write_results
    from dfshield.training.trainer import Trainer

    checkpoint = Path(args.checkpoint)
    payload = load_checkpoint(checkpoint)
    layers = [(f"{checkpoint} (saved config)", payload["config"])]
    if args.protocol:
        protocol = load_yaml(args.protocol)
        layers.append((args.protocol, {"data": protocol.get("data", {})}))
    if args.overrides:
        layers.append(("--set", parse_overrides(args.overrides)))
    cfg = build_config(layers)
    out = Path(args.out) if args.out else checkpoint.resolve().parent.parent / "test"
    trainer = Trainer(cfg, out, feature_cache=args.feature_cache)
    result = trainer.test(checkpoint)
    if trainer.dist.is_main:
        row = {"detector": trainer.name, **result["metrics"]}
        write_results(out, [row], title=f"{trainer.name}: {', '.join(cfg.data.test_datasets)} test split")
        plot_roc(out / "roc.png", {trainer.name: (result["scores"], result["labels"])})
        print(format_table([row]))
        print(f"results: {out}")
    return 0
